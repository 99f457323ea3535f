import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ITEM_PREFIX, TABLE } from '#contract/table';
import { type Batch, type ChunkTally, emptyTallies } from '#core/batches/batch';
import { ServiceUnavailableError } from '#core/errors';
import { isTerminal, type Job } from '#core/jobs/job';
import { batchGetByKey } from './dynamo-batch-get.ts';

/** A chunk's count of ended jobs: an item of its own, so that no one item takes every job's update. */
const chunkKey = (batchId: string, chunk: number) => ({
  [TABLE.partitionKey]: `${ITEM_PREFIX.batch}${batchId}#chunk#${chunk}`,
});

/** Counters of a chunk, top-level attributes (DynamoDB's ADD takes no nested paths). */
const TALLIES = ['succeeded', 'failed', 'cancelled', 'expired'] as const;

/**
 * The counters of a batch's chunks (`batch#<id>#chunk#<n>`), one item per chunk: each ended job
 * is counted once by adding its line to the chunk's set of ended lines under the condition that
 * the line is not in it yet, so a duplicate or replayed count counts nothing.
 */
export class DynamoChunkTallies {
  constructor(
    private readonly dynamo: DynamoDBDocumentClient,
    private readonly tableName: string,
    /** When a counter made now expires (epoch seconds), with its batch. */
    private readonly expiresAt: () => number,
  ) {}

  /** Creates the chunk's counter, knowing how many jobs it makes, before any of them can end. */
  async open(batchId: string, chunk: number, jobs: number): Promise<void> {
    await this.dynamo.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: chunkKey(batchId, chunk),
        UpdateExpression:
          'SET #jobs = if_not_exists(#jobs, :jobs), #expires = if_not_exists(#expires, :expires)',
        ExpressionAttributeNames: { '#jobs': 'jobs', '#expires': TABLE.ttlAttribute },
        ExpressionAttributeValues: {
          ':jobs': jobs,
          ':expires': this.expiresAt(),
        },
      }),
    );
  }

  /** Counts an ended job in its chunk, once per line; the chunk's count after it. */
  async tally(job: Job): Promise<ChunkTally | undefined> {
    if (
      !job.batchId ||
      job.batchChunk === undefined ||
      job.batchLine === undefined ||
      !isTerminal(job.status)
    ) {
      throw new TypeError(`job ${job.id} is no ended job of a batch's chunk`);
    }
    const key = chunkKey(job.batchId, job.batchChunk);
    try {
      const { Attributes } = await this.dynamo.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'ADD #ended :line, #status :one, #cost :cost',
          ConditionExpression: 'NOT contains(#ended, :number)',
          ExpressionAttributeNames: { '#ended': 'ended', '#status': job.status, '#cost': 'cost' },
          ExpressionAttributeValues: {
            ':line': new Set([job.batchLine]),
            ':number': job.batchLine,
            ':one': 1,
            ':cost': job.cost ?? 0,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ? toChunkTally(job.batchChunk, Attributes) : undefined;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Counted already (a redelivery, another finisher): the count as it is.
      const { Item } = await this.dynamo.send(
        new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
      );
      return Item ? toChunkTally(job.batchChunk, Item) : undefined;
    }
  }

  /**
   * Every chunk's count of a batch, read 100 at a time. A count DynamoDB would not read (throttled)
   * is not left out, which would show the batch behind where it is: the read fails, retryable.
   */
  async all(batch: Pick<Batch, 'id' | 'chunkCount'>): Promise<ChunkTally[]> {
    const chunks = Array.from({ length: batch.chunkCount ?? 0 }, (_, chunk) => chunk);
    const keys = chunks.map((chunk) => String(chunkKey(batch.id, chunk)[TABLE.partitionKey]));
    const { items, unread } = await batchGetByKey(this.dynamo, this.tableName, keys);
    if (unread.length > 0) {
      throw new ServiceUnavailableError(
        'the jobs table is throttling reads; the batch’s counts could not all be read: retry the request',
      );
    }
    return chunks.flatMap((chunk, index) => {
      const item = items.get(keys[index]!);
      return item ? [toChunkTally(chunk, item)] : [];
    });
  }
}

function toChunkTally(chunk: number, item: Record<string, unknown>): ChunkTally {
  const tallies = emptyTallies();
  for (const status of TALLIES) tallies[status] = Number(item[status] ?? 0);
  return {
    chunk,
    jobs: Number(item.jobs ?? Number.POSITIVE_INFINITY),
    ended: item.ended instanceof Set ? item.ended.size : 0,
    tallies,
    cost: Number(item.cost ?? 0),
  };
}
