import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ITEM_PREFIX, TABLE } from '#contract/table';
import type { AdmissionStore } from '#core/ports';

const ADMISSION = { [TABLE.partitionKey]: `${ITEM_PREFIX.admission}global` };
const spendKey = (day: string) => ({ [TABLE.partitionKey]: `${ITEM_PREFIX.spend}${day}` });

/**
 * Admission on DynamoDB: one record holds the map of slot holders (job id → when taken), the
 * current limit and the line's counter; every change is a single conditional `UpdateItem`, so
 * instances agree without locks. One record means at most ~1,000 updates a second across the
 * account (DynamoDB's per-item limit): some hundreds of jobs a second. The line itself is the
 * sparse `admission-waiting` index; the day's spend is one record per UTC day.
 */
export class DynamoAdmissionStore implements AdmissionStore {
  #initialised = false;

  constructor(
    private readonly dynamo: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async nextSeq(count = 1): Promise<number> {
    const { Attributes } = await this.dynamo.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: ADMISSION,
        UpdateExpression: 'ADD #seq :count',
        ExpressionAttributeNames: { '#seq': 'seq' },
        ExpressionAttributeValues: { ':count': count },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(Attributes?.seq);
  }

  async slots(): Promise<{ holders: Record<string, number>; limit: number | undefined }> {
    const { Item } = await this.dynamo.send(
      new GetCommand({ TableName: this.tableName, Key: ADMISSION, ConsistentRead: true }),
    );
    // The map exists once ever: a read that sees it spares this instance the write that makes it.
    if (Item?.holders !== undefined) this.#initialised = true;
    return {
      holders: (Item?.holders as Record<string, number> | undefined) ?? {},
      limit: typeof Item?.limit === 'number' ? Item.limit : undefined,
    };
  }

  async acquire(jobIds: readonly string[], limit: number, nowMs: number): Promise<boolean> {
    if (jobIds.length === 0) return true;
    await this.#initialise();
    const names = Object.fromEntries(jobIds.map((jobId, index) => [`#j${index}`, jobId]));
    const placeholders = Object.keys(names);
    try {
      await this.dynamo.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ADMISSION,
          UpdateExpression: `SET ${placeholders.map((name) => `#holders.${name} = :now`).join(', ')}`,
          ConditionExpression: [
            'size(#holders) <= :room',
            ...placeholders.map((name) => `attribute_not_exists(#holders.${name})`),
          ].join(' AND '),
          ExpressionAttributeNames: { '#holders': 'holders', ...names },
          ExpressionAttributeValues: { ':now': nowMs, ':room': limit - jobIds.length },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async release(jobId: string): Promise<void> {
    // Conditional, so that it needs no map made first: a job that holds no slot has nothing to give back.
    try {
      await this.dynamo.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ADMISSION,
          UpdateExpression: 'REMOVE #holders.#job',
          ConditionExpression: 'attribute_exists(#holders.#job)',
          ExpressionAttributeNames: { '#holders': 'holders', '#job': jobId },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async setLimit(limit: number, expected: number | undefined): Promise<boolean> {
    try {
      await this.dynamo.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ADMISSION,
          UpdateExpression: 'SET #limit = :limit',
          ConditionExpression: expected === undefined ? 'attribute_not_exists(#limit)' : '#limit = :expected',
          ExpressionAttributeNames: { '#limit': 'limit' },
          ExpressionAttributeValues: {
            ':limit': limit,
            ...(expected === undefined ? {} : { ':expected': expected }),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async waiting(lane: 'interactive' | 'batch', count: number): Promise<{ jobId: string; waitKey: string }[]> {
    if (count <= 0) return [];
    const { Items = [] } = await this.dynamo.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: TABLE.waitingIndex.name,
        KeyConditionExpression: '#lane = :lane',
        ExpressionAttributeNames: { '#lane': TABLE.waitingIndex.partitionKey },
        ExpressionAttributeValues: { ':lane': lane },
        Limit: count,
      }),
    );
    return Items.map((item) => ({
      jobId: String(item[TABLE.partitionKey]).slice(ITEM_PREFIX.job.length),
      waitKey: String(item[TABLE.waitingIndex.sortKey]),
    }));
  }

  async spend(day: string): Promise<number> {
    const { Item } = await this.dynamo.send(
      new GetCommand({ TableName: this.tableName, Key: spendKey(day), ConsistentRead: true }),
    );
    return Number(Item?.usd ?? 0);
  }

  async addSpend(day: string, usd: number): Promise<void> {
    await this.dynamo.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: spendKey(day),
        UpdateExpression: 'ADD #usd :usd',
        ExpressionAttributeNames: { '#usd': 'usd' },
        ExpressionAttributeValues: { ':usd': usd },
      }),
    );
  }

  /**
   * A map must exist before one of its entries can be set: made once, if absent — unless this
   * instance already read it (`slots`, which every dispatch reads before it acquires).
   */
  async #initialise(): Promise<void> {
    if (this.#initialised) return;
    await this.dynamo.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: ADMISSION,
        UpdateExpression: 'SET #holders = if_not_exists(#holders, :empty)',
        ExpressionAttributeNames: { '#holders': 'holders' },
        ExpressionAttributeValues: { ':empty': {} },
      }),
    );
    this.#initialised = true;
  }
}
