import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { ITEM_PREFIX, TABLE } from '#contract/table';
import type { IdempotencyClaim } from '#core/ports';

/*
 * The `Idempotency-Key` record that jobs and batches share: written in the same transaction as
 * what it names, so a key names exactly one job or batch; read back when that transaction fails.
 */

export const idempotencyKey = (key: string) => ({ [TABLE.partitionKey]: `${ITEM_PREFIX.idempotency}${key}` });

/** The transaction item that claims `claim.key` for what `names` holds (`{ jobId }` or `{ batchId }`). */
export function idempotencyPut(
  tableName: string,
  claim: IdempotencyClaim,
  names: { jobId: string } | { batchId: string },
  createdAt: string,
  expiresAt: number,
) {
  return {
    Put: {
      TableName: tableName,
      Item: {
        ...idempotencyKey(claim.key),
        ...names,
        fingerprint: claim.fingerprint,
        createdAt,
        [TABLE.ttlAttribute]: expiresAt,
      },
      ConditionExpression: 'attribute_not_exists(#pk)',
      ExpressionAttributeNames: { '#pk': TABLE.partitionKey },
    },
  };
}

/** The record that holds `key`, read consistently (the transaction that lost to it just failed). */
export async function readIdempotencyRecord(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  key: string,
): Promise<Record<string, unknown> | undefined> {
  const { Item } = await dynamo.send(
    new GetCommand({ TableName: tableName, Key: idempotencyKey(key), ConsistentRead: true }),
  );
  return Item;
}
