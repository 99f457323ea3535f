import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ITEM_PREFIX, TABLE } from '#contract/table';
import type { Batch, ChunkTally } from '#core/batches/batch';
import { type Clock, systemClock } from '#core/clock';
import type { Job } from '#core/jobs/job';
import type { BatchCreateResult, BatchStore, BatchValidation, IdempotencyClaim } from '#core/ports';
import { batchKey, createBatchItem, SWEEP_SHARD } from './dynamo-batch-create.ts';
import { DynamoChunkTallies } from './dynamo-chunk-tallies.ts';
import { idempotencyKey } from './dynamo-idempotency.ts';
import { jobItem } from './dynamo-job-store.ts';
import { listDueIds } from './dynamo-sweep-index.ts';

/**
 * Batches in the jobs table (`batch#<id>`), and one counter item per chunk of each
 * (`batch#<id>#chunk#<n>`). Every count is made exactly once without a transaction, by a number
 * set the same update adds to under the condition that the number is not in it yet: the chunks
 * whose jobs are made (on the batch), the lines whose jobs ended (on their chunk), the chunks
 * whose jobs all ended (on the batch). So a duplicate or replayed update counts nothing, and no
 * single item takes an update per job.
 */
export class DynamoBatchStore implements BatchStore {
  private readonly chunks: DynamoChunkTallies;

  constructor(
    private readonly dynamo: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly retentionDays: number,
    private readonly clock: Clock = systemClock,
  ) {
    this.chunks = new DynamoChunkTallies(dynamo, tableName, () =>
      this.expiry(new Date(this.clock.now()).toISOString()),
    );
  }

  create(batch: Batch, idempotency?: IdempotencyClaim): Promise<BatchCreateResult> {
    return createBatchItem(this.dynamo, this.tableName, batch, this.expiry(batch.createdAt), idempotency);
  }

  async get(id: string): Promise<Batch | undefined> {
    const { Item } = await this.dynamo.send(
      new GetCommand({ TableName: this.tableName, Key: batchKey(id), ConsistentRead: true }),
    );
    return Item ? toBatch(Item) : undefined;
  }

  async discard(batch: Batch): Promise<void> {
    const items = [{ Delete: { TableName: this.tableName, Key: batchKey(batch.id) } }];
    if (batch.idempotencyKey) {
      items.push({ Delete: { TableName: this.tableName, Key: idempotencyKey(batch.idempotencyKey) } });
    }
    await this.dynamo.send(new TransactWriteCommand({ TransactItems: items }));
  }

  recordValidation(id: string, outcome: BatchValidation, sweepAt: string | undefined) {
    return this.update(id, {
      set: { ...outcome, sweepAt },
      condition: '#status = :validating',
      values: { ':validating': 'validating' },
    });
  }

  async recordChunk(id: string, chunk: number, jobs: number, sweepAt: string): Promise<Batch | undefined> {
    const counted = await this.update(id, {
      set: { sweepAt },
      add: { created: jobs, chunksDone: new Set([chunk]) },
      condition: '#status = :creating AND NOT contains(#chunksDone, :chunk)',
      values: { ':creating': 'creating', ':chunk': chunk },
    });
    return counted ?? this.get(id);
  }

  activate(id: string, sweepAt: string) {
    return this.get(id).then((batch) =>
      batch
        ? this.update(id, {
            set: { status: 'active', sweepAt },
            // Every chunk of the plan done (a plan of none: nothing to wait for).
            condition: batch.chunkCount
              ? '#status = :creating AND size(#chunksDone) >= :chunks'
              : '#status = :creating',
            values: { ':creating': 'creating', ...(batch.chunkCount ? { ':chunks': batch.chunkCount } : {}) },
          })
        : undefined,
    );
  }

  requestCancel(id: string, at: string) {
    return this.update(id, {
      set: {},
      setIfAbsent: { cancelRequestedAt: at },
      condition: '#status IN (:validating, :creating, :active)',
      values: { ':validating': 'validating', ':creating': 'creating', ':active': 'active' },
    });
  }

  startCompletion(id: string, token: string, untilMs: number, nowMs: number) {
    const until = new Date(untilMs).toISOString();
    return this.update(id, {
      // Should the holder die, the sweeper finds the batch when the lease runs out.
      set: { status: 'completing', completeToken: token, completeLeaseUntil: until, sweepAt: until },
      condition: '#status = :active OR (#status = :completing AND #completeLeaseUntil < :now)',
      values: { ':active': 'active', ':completing': 'completing', ':now': new Date(nowMs).toISOString() },
    });
  }

  async releaseCompletion(id: string, token: string): Promise<void> {
    await this.update(id, {
      set: { status: 'active' },
      remove: ['completeToken', 'completeLeaseUntil'],
      condition: '#completeToken = :token',
      values: { ':token': token },
    });
  }

  finishCompletion(id: string, token: string, resultsKey: string, at: string) {
    return this.update(id, {
      set: { status: 'completed', completedAt: at, resultsKey, sweepAt: undefined },
      remove: ['completeToken', 'completeLeaseUntil'],
      condition: '#status = :completing AND #completeToken = :token',
      values: { ':completing': 'completing', ':token': token },
    });
  }

  async setSweepAt(id: string, sweepAt: string | undefined): Promise<void> {
    // Not a change of the batch: `updatedAt` stays when its jobs last moved it.
    await this.update(id, { set: { sweepAt }, condition: 'attribute_exists(#pk)', values: {}, touch: false });
  }

  listDue(cutoff: string, limit: number): Promise<string[]> {
    return listDueIds(this.dynamo, this.tableName, {
      shard: SWEEP_SHARD,
      itemPrefix: ITEM_PREFIX.batch,
      cutoff,
      limit,
    });
  }

  async createJob(job: Job): Promise<boolean> {
    try {
      await this.dynamo.send(
        new PutCommand({
          TableName: this.tableName,
          Item: jobItem(job, this.expiry(job.createdAt)),
          // A deleted job's tombstone keeps its key: a line deleted by hand is not made again.
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': TABLE.partitionKey },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  openChunk(batchId: string, chunk: number, jobs: number): Promise<void> {
    return this.chunks.open(batchId, chunk, jobs);
  }

  tally(job: Job): Promise<ChunkTally | undefined> {
    return this.chunks.tally(job);
  }

  async markChunkEnded(batchId: string, chunk: number): Promise<Batch | undefined> {
    const marked = await this.update(batchId, {
      set: {},
      add: { chunksEnded: new Set([chunk]) },
      condition: 'NOT contains(#chunksEnded, :chunk)',
      values: { ':chunk': chunk },
    });
    return marked ?? this.get(batchId);
  }

  chunkTallies(batch: Pick<Batch, 'id' | 'chunkCount'>): Promise<ChunkTally[]> {
    return this.chunks.all(batch);
  }

  /** One conditional update of a batch; `undefined` when its condition failed. */
  private async update(
    id: string,
    change: {
      set: Record<string, unknown>;
      setIfAbsent?: Record<string, unknown>;
      add?: Record<string, unknown>;
      remove?: string[];
      condition: string;
      values: Record<string, unknown>;
      touch?: boolean;
    },
  ): Promise<Batch | undefined> {
    const attributeNames: Record<string, string> = { '#pk': TABLE.partitionKey };
    const values: Record<string, unknown> = { ...change.values };
    const name = (attribute: string) => {
      attributeNames[`#${attribute}`] = attribute;
      return `#${attribute}`;
    };
    const sets: string[] = [];
    const removes = (change.remove ?? []).map(name);
    const set = (attribute: string, value: unknown, ifAbsent = false) => {
      const placeholder = `:set_${attribute}`;
      values[placeholder] = value;
      sets.push(
        `${name(attribute)} = ${ifAbsent ? `if_not_exists(${name(attribute)}, ${placeholder})` : placeholder}`,
      );
    };
    const entries = {
      ...change.set,
      ...(change.touch === false ? {} : { updatedAt: new Date(this.clock.now()).toISOString() }),
    };
    for (const [attribute, value] of Object.entries(entries)) {
      if (attribute === 'sweepAt' && 'sweepAt' in change.set) {
        // The sweep index's partition follows `sweepAt`: present exactly while it is.
        if (value === undefined) removes.push(name('sweepAt'), name(TABLE.sweepIndex.partitionKey));
        else {
          set('sweepAt', value);
          set(TABLE.sweepIndex.partitionKey, SWEEP_SHARD);
        }
        continue;
      }
      if (value !== undefined) set(attribute, value);
    }
    for (const [attribute, value] of Object.entries(change.setIfAbsent ?? {})) set(attribute, value, true);
    const adds = Object.entries(change.add ?? {}).map(([attribute, value]) => {
      values[`:add_${attribute}`] = value;
      return `${name(attribute)} :add_${attribute}`;
    });
    // Every attribute the condition names gets its placeholder too.
    for (const match of change.condition.matchAll(/#(\w+)/g)) name(match[1] as string);
    try {
      const { Attributes } = await this.dynamo.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: batchKey(id),
          UpdateExpression: [
            `SET ${sets.join(', ')}`,
            adds.length ? `ADD ${adds.join(', ')}` : '',
            removes.length ? `REMOVE ${[...new Set(removes)].join(', ')}` : '',
          ]
            .filter(Boolean)
            .join(' '),
          ConditionExpression: `attribute_exists(#pk) AND (${change.condition})`,
          ExpressionAttributeNames: attributeNames,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ? toBatch(Attributes) : undefined;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  private expiry(createdAt: string): number {
    return Math.floor(Date.parse(createdAt) / 1000) + this.retentionDays * 86_400;
  }
}

const numbers = (set: unknown) => (set instanceof Set ? [...set].map(Number).sort((a, b) => a - b) : []);

function toBatch(item: Record<string, unknown>): Batch {
  const {
    [TABLE.partitionKey]: _pk,
    [TABLE.ttlAttribute]: _ttl,
    [TABLE.sweepIndex.partitionKey]: _shard,
    chunksDone,
    chunksEnded,
    ...rest
  } = item;
  return {
    ...(rest as unknown as Batch),
    created: Number(rest.created ?? 0),
    chunksDone: numbers(chunksDone),
    chunksEnded: numbers(chunksEnded),
  };
}
