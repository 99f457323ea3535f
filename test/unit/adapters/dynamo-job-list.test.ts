import { BatchGetCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { listJobs } from '#adapters/aws/dynamo-job-list';
import { TABLE } from '#contract/table';
import { ServiceUnavailableError } from '#core/errors';
import type { Job } from '#core/jobs/job';

/**
 * What the list does with DynamoDB's answers, over a stand-in for the document client that answers
 * as DynamoDB does when it throttles: `BatchGetItem` leaving keys in `UnprocessedKeys` on every
 * attempt (moto never throttles, so the integration tests cannot reach this branch).
 */
const OWNER = 'owner-key';
const positions = ['2026-12-04T10:00:00.000Z#a', '2026-12-04T10:00:01.000Z#b', '2026-12-04T10:00:02.000Z#c'];
const keyOf = (position: string) => `job#${position.slice(position.lastIndexOf('#') + 1)}`;

function tableThatWillNotRead(unreadable: string): DynamoDBDocumentClient {
  const send = async (command: unknown) => {
    if (command instanceof QueryCommand) {
      return { Items: positions.map((position) => ({ [TABLE.listIndexes.byOwner.sortKey]: position })) };
    }
    if (command instanceof BatchGetCommand) {
      const [table, request] = Object.entries(command.input.RequestItems ?? {})[0]!;
      const keys = (request.Keys ?? []).map((key) => String(key[TABLE.partitionKey]));
      return {
        Responses: {
          [table]: keys
            .filter((key) => key !== unreadable)
            .map((key) => ({ [TABLE.partitionKey]: key, id: key.slice(4), ownerKey: OWNER })),
        },
        UnprocessedKeys: keys.includes(unreadable)
          ? { [table]: { Keys: [{ [TABLE.partitionKey]: unreadable }] } }
          : {},
      };
    }
    throw new Error('unexpected command');
  };
  return { send } as unknown as DynamoDBDocumentClient;
}

const toJob = (item: Record<string, unknown>) => ({ id: item.id, ownerKey: item.ownerKey }) as Job;

describe('Function: listJobs (DynamoDB)', () => {
  it('answers no page, not one without the job DynamoDB would not read (the cursor would pass it for good)', async () => {
    const dynamo = tableThatWillNotRead(keyOf(positions[1]!));
    const query = { ownerKey: OWNER, order: 'asc', limit: 10 } as const;

    const listing = listJobs(dynamo, 'jobs', query, toJob);

    await expect(listing).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(listing).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503, expose: true });
  });

  it('lists every job when DynamoDB reads them all', async () => {
    const dynamo = tableThatWillNotRead('job#none');
    const page = await listJobs(dynamo, 'jobs', { ownerKey: OWNER, order: 'asc', limit: 10 }, toJob);
    expect(page.jobs.map((job) => job.id)).toEqual(['a', 'b', 'c']);
  });
});
