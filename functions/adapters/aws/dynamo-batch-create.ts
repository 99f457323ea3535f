import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { ITEM_PREFIX, TABLE } from '#contract/table';
import type { Batch } from '#core/batches/batch';
import type { BatchCreateResult, IdempotencyClaim } from '#core/ports';
import { idempotencyPut, readIdempotencyRecord } from './dynamo-idempotency.ts';

export const batchKey = (id: string) => ({ [TABLE.partitionKey]: `${ITEM_PREFIX.batch}${id}` });

/** The sweep index's partition of batches (jobs have their own). */
export const SWEEP_SHARD = 'batch';

/** A batch item is in the sweep index while it has a time to be looked at. */
export function shard(sweepAt: string | undefined) {
  return sweepAt === undefined ? {} : { [TABLE.sweepIndex.partitionKey]: SWEEP_SHARD };
}

/**
 * Records a new batch, and its idempotency key if given, in one transaction: one of two requests
 * racing for a key wins; the other learns the winner's batch and whether its body was the same.
 */
export async function createBatchItem(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  batch: Batch,
  expiresAt: number,
  idempotency?: IdempotencyClaim,
): Promise<BatchCreateResult> {
  const { chunksDone: _done, chunksEnded: _ended, ...rest } = batch;
  const put = {
    Put: {
      TableName: tableName,
      Item: {
        ...batchKey(batch.id),
        ...rest,
        ...shard(batch.sweepAt),
        [TABLE.ttlAttribute]: expiresAt,
      },
      ConditionExpression: 'attribute_not_exists(#pk)',
      ExpressionAttributeNames: { '#pk': TABLE.partitionKey },
    },
  };
  const items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']> = [put];
  if (idempotency) {
    items.push(idempotencyPut(tableName, idempotency, { batchId: batch.id }, batch.createdAt, expiresAt));
  }
  try {
    await dynamo.send(new TransactWriteCommand({ TransactItems: items }));
    return { created: true, batch };
  } catch (error) {
    if (!(error instanceof TransactionCanceledException) || !idempotency) throw error;
    const Item = await readIdempotencyRecord(dynamo, tableName, idempotency.key);
    if (!Item?.batchId) throw error;
    return {
      created: false,
      existingBatchId: String(Item.batchId),
      fingerprintMatches: Item.fingerprint === idempotency.fingerprint,
    };
  }
}
