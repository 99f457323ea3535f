import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoChunkTallies } from '#adapters/aws/dynamo-chunk-tallies';
import { TABLE } from '#contract/table';
import { ServiceUnavailableError } from '#core/errors';

/**
 * A batch's chunk counts over a stand-in for the document client that leaves one chunk's key in
 * `UnprocessedKeys` on every attempt, as DynamoDB does when it throttles (moto never does).
 */
function tableThatWillNotRead(unreadable: string | undefined): DynamoDBDocumentClient {
  const send = async (command: unknown) => {
    if (!(command instanceof BatchGetCommand)) throw new Error('unexpected command');
    const [name, request] = Object.entries(command.input.RequestItems ?? {})[0]!;
    const keys = (request.Keys ?? []).map((key) => String(key[TABLE.partitionKey]));
    return {
      Responses: {
        [name]: keys
          .filter((key) => key !== unreadable)
          .map((key) => ({ [TABLE.partitionKey]: key, jobs: 10, succeeded: 10, ended: new Set([1]) })),
      },
      UnprocessedKeys:
        unreadable && keys.includes(unreadable)
          ? { [name]: { Keys: [{ [TABLE.partitionKey]: unreadable }] } }
          : {},
    };
  };
  return { send } as unknown as DynamoDBDocumentClient;
}

const batch = { id: 'b1', chunkCount: 3 };

describe('Class: DynamoChunkTallies', () => {
  it('reads every chunk’s count', async () => {
    const tallies = new DynamoChunkTallies(tableThatWillNotRead(undefined), 'jobs', () => 0);
    const counts = await tallies.all(batch);
    expect(counts.map((count) => count.chunk)).toEqual([0, 1, 2]);
  });

  it('fails, retryable, rather than leave out a count DynamoDB would not read (the batch would look behind)', async () => {
    const unreadable = 'batch#b1#chunk#1';
    const tallies = new DynamoChunkTallies(tableThatWillNotRead(unreadable), 'jobs', () => 0);
    await expect(tallies.all(batch)).rejects.toBeInstanceOf(ServiceUnavailableError);
  });
});
