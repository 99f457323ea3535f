import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { TABLE } from '#contract/table';

/**
 * The ids of the items in one shard of the sweep index (jobs and batches each have their own)
 * whose `sweepAt` is before `cutoff`: the sweeper's work list, oldest first.
 */
export async function listDueIds(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  query: { shard: string; itemPrefix: string; cutoff: string; limit: number },
): Promise<string[]> {
  const { Items = [] } = await dynamo.send(
    new QueryCommand({
      TableName: tableName,
      IndexName: TABLE.sweepIndex.name,
      KeyConditionExpression: '#shard = :shard AND #due < :cutoff',
      ExpressionAttributeNames: { '#shard': TABLE.sweepIndex.partitionKey, '#due': TABLE.sweepIndex.sortKey },
      ExpressionAttributeValues: { ':shard': query.shard, ':cutoff': query.cutoff },
      Limit: query.limit,
    }),
  );
  return Items.map((item) => String(item[TABLE.partitionKey]).slice(query.itemPrefix.length));
}
