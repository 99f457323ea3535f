import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ITEM_PREFIX, statusPartition, TABLE } from '#contract/table';
import { type Clock, systemClock } from '#core/clock';
import type { Condition } from '#core/jobs/conditions';
import type { Job } from '#core/jobs/job';
import type { JobWrite } from '#core/jobs/lifecycle';
import { listPosition } from '#core/jobs/list-position';
import type { CreateResult, IdempotencyClaim, JobRecord, JobStore, ListPage, ListQuery } from '#core/ports';
import { batchGetByKey } from './dynamo-batch-get.ts';
import { idempotencyKey, idempotencyPut, readIdempotencyRecord } from './dynamo-idempotency.ts';
import { listJobs } from './dynamo-job-list.ts';
import { listDueIds } from './dynamo-sweep-index.ts';

const jobKey = (id: string) => ({ [TABLE.partitionKey]: `${ITEM_PREFIX.job}${id}` });

/** One partition of the sweep index: its jobs are few (only those with something left to do). */
const SWEEP_SHARD = 'due';

/**
 * Jobs in DynamoDB. Writes are the lifecycle's, rendered to conditional `UpdateItem`s: a write
 * whose condition fails returns `undefined` and the caller treats it as "someone got there first".
 * The sweep index's partition attribute follows `sweepAt`: present exactly while it is.
 */
export class DynamoJobStore implements JobStore {
  constructor(
    private readonly dynamo: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly retentionDays: number,
    private readonly clock: Clock = systemClock,
  ) {}

  async create(job: Job, idempotency?: IdempotencyClaim): Promise<CreateResult> {
    const expiresAt = this.expiry(job.createdAt);
    const putJob = {
      Put: {
        TableName: this.tableName,
        Item: jobItem(job, expiresAt),
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': TABLE.partitionKey },
      },
    };
    if (!idempotency) {
      // One item needs no transaction: a conditional put is as atomic at half the write units.
      await this.dynamo.send(new PutCommand(putJob.Put));
      return { created: true, job };
    }
    try {
      await this.dynamo.send(
        new TransactWriteCommand({
          TransactItems: [
            putJob,
            idempotencyPut(this.tableName, idempotency, { jobId: job.id }, job.createdAt, expiresAt),
          ],
        }),
      );
      return { created: true, job };
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const existing = await readIdempotencyRecord(this.dynamo, this.tableName, idempotency.key);
      if (!existing) throw error;
      return {
        created: false,
        existingJobId: String(existing.jobId),
        fingerprintMatches: existing.fingerprint === idempotency.fingerprint,
      };
    }
  }

  async findByIdempotencyKey(key: string): Promise<{ jobId: string; fingerprint: string } | undefined> {
    const record = await readIdempotencyRecord(this.dynamo, this.tableName, key);
    // A key that names a batch (or an unreadable record) is left to `create`, which refuses it.
    if (typeof record?.jobId !== 'string') return undefined;
    return { jobId: record.jobId, fingerprint: String(record.fingerprint ?? '') };
  }

  async discard(job: Job): Promise<void> {
    const items = [{ Delete: { TableName: this.tableName, Key: jobKey(job.id) } }];
    if (job.idempotencyKey) {
      items.push({ Delete: { TableName: this.tableName, Key: idempotencyKey(job.idempotencyKey) } });
    }
    await this.dynamo.send(new TransactWriteCommand({ TransactItems: items }));
  }

  async get(id: string): Promise<Job | undefined> {
    const { Item } = await this.dynamo.send(
      new GetCommand({ TableName: this.tableName, Key: jobKey(id), ConsistentRead: true }),
    );
    return Item && !Item.deletedAt ? toJob(Item) : undefined;
  }

  async getMany(ids: readonly string[]): Promise<Map<string, Job | undefined>> {
    const keys = ids.map((id) => `${ITEM_PREFIX.job}${id}`);
    const { items, unread } = await batchGetByKey(this.dynamo, this.tableName, keys);
    const unreadKeys = new Set(unread);
    const read = new Map<string, Job | undefined>();
    for (const [index, id] of ids.entries()) {
      const key = keys[index]!;
      if (unreadKeys.has(key)) continue;
      const item = items.get(key);
      read.set(id, item && !item.deletedAt ? toJob(item) : undefined);
    }
    return read;
  }

  async write(id: string, change: JobWrite): Promise<Job | undefined> {
    try {
      const { Attributes } = await this.dynamo.send(
        new UpdateCommand({
          TableName: this.tableName,
          ...jobUpdate(id, change, new Date(this.clock.now()).toISOString()),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ? toJob(Attributes) : undefined;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  listDue(cutoff: string, limit: number): Promise<string[]> {
    return listDueIds(this.dynamo, this.tableName, {
      shard: SWEEP_SHARD,
      itemPrefix: ITEM_PREFIX.job,
      cutoff,
      limit,
    });
  }

  list(query: ListQuery): Promise<ListPage> {
    return listJobs(this.dynamo, this.tableName, query, toJob, {
      clock: this.clock,
      retentionDays: this.retentionDays,
      today: new Date(this.clock.now()).toISOString().slice(0, 10),
    });
  }

  async delete(job: Job, deletedAt: string): Promise<boolean> {
    const items: NonNullable<TransactWriteCommandInput['TransactItems']> = [
      {
        // A tombstone in its place: no index attribute, so it leaves every index; kept as long as the job would have been.
        Put: {
          TableName: this.tableName,
          Item: {
            ...jobKey(job.id),
            deletedAt,
            ...(job.ownerKey ? { ownerKey: job.ownerKey } : {}),
            [TABLE.ttlAttribute]: this.expiry(job.createdAt),
          },
          ConditionExpression:
            'attribute_exists(#pk) AND #status IN (:succeeded, :failed, :cancelled, :expired)',
          ExpressionAttributeNames: { '#pk': TABLE.partitionKey, '#status': 'status' },
          ExpressionAttributeValues: {
            ':succeeded': 'succeeded',
            ':failed': 'failed',
            ':cancelled': 'cancelled',
            ':expired': 'expired',
          },
        },
      },
    ];
    if (job.idempotencyKey) {
      items.push({ Delete: { TableName: this.tableName, Key: idempotencyKey(job.idempotencyKey) } });
    }
    try {
      await this.dynamo.send(new TransactWriteCommand({ TransactItems: items }));
      return true;
    } catch (error) {
      if (error instanceof TransactionCanceledException) return false;
      throw error;
    }
  }

  async lookup(id: string): Promise<JobRecord | undefined> {
    const { Item } = await this.dynamo.send(
      new GetCommand({ TableName: this.tableName, Key: jobKey(id), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    return Item.deletedAt ? { deleted: { ownerKey: String(Item.ownerKey ?? '') } } : { job: toJob(Item) };
  }

  private expiry(createdAt: string): number {
    return Math.floor(Date.parse(createdAt) / 1000) + this.retentionDays * 86_400;
  }
}

/**
 * A lifecycle write as an `UpdateItem` (key, expressions, condition): what `write` sends, and
 * what a transaction that carries a job's write along with another item's takes.
 */
export function jobUpdate(id: string, change: JobWrite, updatedAt: string) {
  const expression = new Expression();
  const sets: string[] = [];
  const setAttribute = (attribute: string, value: unknown, ifAbsent = false) => {
    if (value === undefined) return;
    const name = expression.name(attribute);
    const placeholder = expression.value(value);
    sets.push(`${name} = ${ifAbsent ? `if_not_exists(${name}, ${placeholder})` : placeholder}`);
  };
  for (const [attribute, value] of Object.entries(change.set)) setAttribute(attribute, value);
  for (const [attribute, value] of Object.entries(change.setIfAbsent)) setAttribute(attribute, value, true);
  setAttribute('updatedAt', updatedAt);
  const removes = change.remove.map((attribute) => expression.name(attribute));
  if (change.set.sweepAt !== undefined) setAttribute(TABLE.sweepIndex.partitionKey, SWEEP_SHARD);
  // The status index's partition follows the status (`active` while queued or running: written
  // again unchanged, which moves no index entry); its sort key (owner, creation) is fixed.
  if (change.set.status !== undefined)
    setAttribute(TABLE.listIndexes.byStatus.partitionKey, statusPartition(change.set.status));
  if (change.remove.includes('sweepAt')) removes.push(expression.name(TABLE.sweepIndex.partitionKey));

  // A tombstone has no status, so every lifecycle condition (which names one) refuses it.
  return {
    Key: jobKey(id),
    UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
    ConditionExpression: `attribute_exists(${expression.name(TABLE.partitionKey)}) AND ${expression.condition(change.condition)}`,
    ExpressionAttributeNames: expression.names,
    ExpressionAttributeValues: expression.values,
  };
}

/**
 * A new job as its item: the job, its key, its index attributes and when it expires. Its id is
 * its key's (`toJob` reads it back from there): the item stays smaller, and every write of it is
 * billed by its size (a write unit per started KB).
 */
export function jobItem(job: Job, expiresAt: number): Record<string, unknown> {
  const { id: _id, ...fields } = job;
  return {
    ...jobKey(job.id),
    ...fields,
    ...sweepShard(job),
    ...listKeys(job),
    [TABLE.ttlAttribute]: expiresAt,
  };
}

/** Placeholders of one expression: `#n0` names (one per path segment) and `:v0` values. */
class Expression {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  #nameCount = 0;
  #valueCount = 0;
  readonly #byName = new Map<string, string>();

  name(path: string): string {
    return path
      .split('.')
      .map((segment) => {
        let placeholder = this.#byName.get(segment);
        if (!placeholder) {
          placeholder = `#n${this.#nameCount++}`;
          this.#byName.set(segment, placeholder);
          this.names[placeholder] = segment;
        }
        return placeholder;
      })
      .join('.');
  }

  value(raw: unknown): string {
    const placeholder = `:v${this.#valueCount++}`;
    this.values[placeholder] = raw;
    return placeholder;
  }

  condition(condition: Condition): string {
    switch (condition.op) {
      case 'exists':
        return `attribute_exists(${this.name(condition.path)})`;
      case 'absent':
        return `attribute_not_exists(${this.name(condition.path)})`;
      case 'eq':
        return `${this.name(condition.path)} = ${this.value(condition.value)}`;
      case 'lt':
        return `${this.name(condition.path)} < ${this.value(condition.value)}`;
      case 'in':
        return `${this.name(condition.path)} IN (${condition.values.map((value) => this.value(value)).join(', ')})`;
      case 'and':
      case 'or':
        return `(${condition.of.map((part) => this.condition(part)).join(condition.op === 'and' ? ' AND ' : ' OR ')})`;
    }
  }
}

function sweepShard(job: Job) {
  return job.sweepAt === undefined ? {} : { [TABLE.sweepIndex.partitionKey]: SWEEP_SHARD };
}

/** The list indexes' attributes of a new job (see `TABLE.listIndexes`). */
function listKeys(job: Job): Record<string, string> {
  const { byOwner, byStatus, byReference, byBatch, byDay } = TABLE.listIndexes;
  const position = listPosition(job);
  const owner = job.ownerKey ?? '-';
  return {
    [byOwner.partitionKey]: owner,
    [byOwner.sortKey]: position,
    [byStatus.partitionKey]: statusPartition(job.status),
    [byStatus.sortKey]: `${owner}#${position}`,
    ...(job.callerReference ? { [byReference.partitionKey]: `${owner}#${job.callerReference}` } : {}),
    ...(job.batchId ? { [byBatch.partitionKey]: job.batchId } : {}),
    [byDay.partitionKey]: job.createdAt.slice(0, 10),
  };
}

const INDEX_ATTRIBUTES = new Set<string>([
  TABLE.partitionKey,
  TABLE.ttlAttribute,
  TABLE.sweepIndex.partitionKey,
  ...Object.values(TABLE.listIndexes).flatMap((index) => [index.partitionKey, index.sortKey]),
]);

function toJob(item: Record<string, unknown>): Job {
  return {
    // Items written by 0.2 or earlier carry their id as well: the same.
    id: String(item[TABLE.partitionKey]).slice(ITEM_PREFIX.job.length),
    ...Object.fromEntries(Object.entries(item).filter(([key]) => !INDEX_ATTRIBUTES.has(key))),
  } as unknown as Job;
}
