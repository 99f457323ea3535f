import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { TABLE } from '../../../infra/definition.ts';
import { isTerminal, type Job, type JobStatus } from './job.ts';

/** What must hold for a conditional write to go through. All parts must hold. */
export interface WriteCondition {
  statusIn?: readonly JobStatus[];
  /** Attributes that must be absent. */
  absent?: readonly (keyof Job)[];
  /** Attributes that must equal the given values. */
  equals?: Partial<Record<keyof Job, string | number>>;
  /** Raw extra condition, ANDed; names and values are passed through as given. */
  expression?: { text: string; names?: Record<string, string>; values?: Record<string, unknown> };
}

export interface IdempotencyClaim {
  key: string;
  /** Hash of the validated request: the same key with another body is refused. */
  fingerprint: string;
}

export type CreateResult =
  | { created: true; job: Job }
  | { created: false; existingJobId: string; fingerprintMatches: boolean };

const JOB_KEY_PREFIX = 'job#';
const jobKey = (id: string) => ({ [TABLE.partitionKey]: `${JOB_KEY_PREFIX}${id}` });
const idempotencyKey = (key: string) => ({ [TABLE.partitionKey]: `idem#${key}` });

/**
 * Jobs in DynamoDB. Every state change is a conditional update, so a stale, duplicate or
 * out-of-order message can never move a job backwards or finish it twice: a write whose
 * condition fails returns `undefined` and the caller treats it as "someone got there first".
 */
export class JobStore {
  constructor(
    private readonly dynamo: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly retentionDays: number,
  ) {}

  /** Records a new job, and its idempotency key if given, in one transaction. */
  async create(job: Job, idempotency?: IdempotencyClaim): Promise<CreateResult> {
    const expiresAt = this.expiry(job.createdAt);
    const putJob = {
      Put: {
        TableName: this.tableName,
        Item: { ...jobKey(job.id), ...job, ...activeMarker(job.status), expiresAt },
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': TABLE.partitionKey },
      },
    };
    if (!idempotency) {
      await this.dynamo.send(new TransactWriteCommand({ TransactItems: [putJob] }));
      return { created: true, job };
    }
    try {
      await this.dynamo.send(
        new TransactWriteCommand({
          TransactItems: [
            putJob,
            {
              Put: {
                TableName: this.tableName,
                Item: {
                  ...idempotencyKey(idempotency.key),
                  jobId: job.id,
                  fingerprint: idempotency.fingerprint,
                  createdAt: job.createdAt,
                  expiresAt,
                },
                ConditionExpression: 'attribute_not_exists(#pk)',
                ExpressionAttributeNames: { '#pk': TABLE.partitionKey },
              },
            },
          ],
        }),
      );
      return { created: true, job };
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const existing = await this.dynamo.send(
        new GetCommand({
          TableName: this.tableName,
          Key: idempotencyKey(idempotency.key),
          ConsistentRead: true,
        }),
      );
      if (!existing.Item) throw error;
      return {
        created: false,
        existingJobId: String(existing.Item.jobId),
        fingerprintMatches: existing.Item.fingerprint === idempotency.fingerprint,
      };
    }
  }

  /** Removes a job that was never announced (its first poll could not be queued). */
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
    return Item ? toJob(Item) : undefined;
  }

  /**
   * Sets (and removes) attributes when `condition` holds; returns the job as written, or
   * `undefined` when the condition failed. `updatedAt` is always set.
   */
  async update(
    id: string,
    changes: { set: Partial<Job>; remove?: readonly (keyof Job)[] },
    condition: WriteCondition,
    now: string,
  ): Promise<Job | undefined> {
    const names: Record<string, string> = { '#pk': TABLE.partitionKey };
    const values: Record<string, unknown> = {};
    const name = (attribute: string) => {
      names[`#${attribute}`] = attribute;
      return `#${attribute}`;
    };
    let valueCount = 0;
    const value = (raw: unknown) => {
      const placeholder = `:v${valueCount++}`;
      values[placeholder] = raw;
      return placeholder;
    };

    const sets = Object.entries({ ...changes.set, updatedAt: now })
      .filter(([, raw]) => raw !== undefined)
      .map(([attribute, raw]) => `${name(attribute)} = ${value(raw)}`);
    const removes = (changes.remove ?? []).map((attribute) => name(attribute));
    // Leaving the active states also leaves the sweeper's sparse index.
    if (changes.set.status !== undefined && isTerminal(changes.set.status)) {
      removes.push(name(TABLE.activeIndex.partitionKey));
    }

    const conditions = ['attribute_exists(#pk)'];
    if (condition.statusIn) {
      conditions.push(
        `${name('status')} IN (${condition.statusIn.map((status) => value(status)).join(', ')})`,
      );
    }
    for (const attribute of condition.absent ?? [])
      conditions.push(`attribute_not_exists(${name(attribute)})`);
    for (const [attribute, expected] of Object.entries(condition.equals ?? {})) {
      conditions.push(`${name(attribute)} = ${value(expected)}`);
    }
    if (condition.expression) {
      conditions.push(`(${condition.expression.text})`);
      Object.assign(names, condition.expression.names);
      Object.assign(values, condition.expression.values);
    }

    try {
      const { Attributes } = await this.dynamo.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: jobKey(id),
          UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ? toJob(Attributes) : undefined;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  /**
   * Ids of the active jobs whose deadline is before `cutoff`, oldest deadline first, from the
   * sparse, keys-only `activeIndex` (only active jobs are in it). At most `limit`.
   */
  async listOverdue(cutoff: string, limit: number): Promise<string[]> {
    const { Items = [] } = await this.dynamo.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: TABLE.activeIndex.name,
        KeyConditionExpression: '#shard = :active AND #deadline < :cutoff',
        ExpressionAttributeNames: {
          '#shard': TABLE.activeIndex.partitionKey,
          '#deadline': TABLE.activeIndex.sortKey,
        },
        ExpressionAttributeValues: { ':active': ACTIVE_SHARD, ':cutoff': cutoff },
        Limit: limit,
      }),
    );
    return Items.map((item) => String(item[TABLE.partitionKey]).slice(JOB_KEY_PREFIX.length));
  }

  private expiry(createdAt: string): number {
    return Math.floor(Date.parse(createdAt) / 1000) + this.retentionDays * 86_400;
  }
}

/** One partition for all active jobs: their number is bounded by RunComfy's throughput and the deadline. */
const ACTIVE_SHARD = 'active';

function activeMarker(status: JobStatus) {
  return isTerminal(status) ? {} : { [TABLE.activeIndex.partitionKey]: ACTIVE_SHARD };
}

function toJob(item: Record<string, unknown>): Job {
  const {
    [TABLE.partitionKey]: _key,
    [TABLE.activeIndex.partitionKey]: _shard,
    expiresAt: _ttl,
    ...job
  } = item;
  return job as unknown as Job;
}
