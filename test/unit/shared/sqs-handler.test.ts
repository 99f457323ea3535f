import type { Context, SQSEvent } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as z from 'zod/mini';
import { makeSqsHandler } from '#shared/handler';
import { logger } from '#shared/powertools';

const record = (messageId: string, body: string) =>
  ({
    messageId,
    body,
    attributes: { ApproximateReceiveCount: '1' },
  }) as unknown as SQSEvent['Records'][number];
const context = {
  functionName: 'test',
  awsRequestId: 'r1',
  getRemainingTimeInMillis: () => 30_000,
} as Context;

describe('Function: makeSqsHandler', () => {
  afterEach(() => vi.restoreAllMocks());

  it('fails only the record whose body does not match its schema, and says so in the log', async () => {
    const handled: unknown[] = [];
    const errors: unknown[][] = [];
    const child = logger.createChild();
    vi.spyOn(logger, 'createChild').mockReturnValue(child);
    vi.spyOn(child, 'error').mockImplementation((...args: unknown[]) => {
      errors.push(args);
    });
    const handler = makeSqsHandler(z.object({ jobId: z.string() }), async (message) => {
      handled.push(message);
    });

    const response = await handler(
      { Records: [record('good', '{"jobId":"j1"}'), record('bad', '{"job":1}')] },
      context,
    );

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'bad' }] });
    expect(handled).toEqual([{ jobId: 'j1' }]);
    expect(errors).toEqual([
      [expect.stringContaining('queue message is invalid'), expect.objectContaining({ messageId: 'bad' })],
    ]);
  });
});
