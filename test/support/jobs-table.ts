import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLE } from '../../contract/index.ts';

/**
 * A jobs table with the stack's key and no indexes, on the emulator: enough for the stores'
 * item-level tests (the local runtime creates the whole table with its indexes).
 */
export async function createKeyOnlyJobsTable(
  client: DynamoDBDocumentClient,
  tableName: string,
): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: TABLE.partitionKey, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: TABLE.partitionKey, KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}
