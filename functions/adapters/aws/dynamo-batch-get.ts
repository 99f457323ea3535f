import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLE } from '#contract/table';
import { type Clock, systemClock } from '#core/clock';

/** `BatchGetItem` takes at most 100 keys a request. */
const KEYS_PER_REQUEST = 100;
/** Requests per group of keys: the first, then the keys DynamoDB left unprocessed asked again. */
const ATTEMPTS = 5;
/** The first wait before asking again for unprocessed keys; it doubles, with full jitter (AWS's advice). */
const FIRST_BACKOFF_MS = 50;

export interface BatchGetOptions {
  /** Waits between attempts; `until` is read on it. */
  clock?: Clock;
  /** No retry after this time (epoch ms): the keys still unprocessed then are answered `unread`. */
  until?: number;
}

/**
 * The table's items at these partition keys, read consistently with `BatchGetItem`: `items` by
 * key for those that exist; `unread` the keys DynamoDB still left unprocessed after its retries
 * (throttled: neither found nor known to be missing).
 */
export async function batchGetByKey(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  keys: readonly string[],
  options: BatchGetOptions = {},
): Promise<{ items: Map<string, Record<string, unknown>>; unread: string[] }> {
  const clock = options.clock ?? systemClock;
  const items = new Map<string, Record<string, unknown>>();
  const unread: string[] = [];
  for (let start = 0; start < keys.length; start += KEYS_PER_REQUEST) {
    let pending = keys.slice(start, start + KEYS_PER_REQUEST);
    for (let attempt = 0; pending.length > 0 && attempt < ATTEMPTS; attempt++) {
      if (attempt > 0) {
        // Unprocessed keys mean the table is throttling: asking again at once would be refused again.
        await clock.sleep(Math.random() * FIRST_BACKOFF_MS * 2 ** attempt);
        if (options.until !== undefined && clock.now() >= options.until) break;
      }
      const { Responses, UnprocessedKeys } = await dynamo.send(
        new BatchGetCommand({
          RequestItems: {
            [tableName]: {
              Keys: pending.map((key) => ({ [TABLE.partitionKey]: key })),
              ConsistentRead: true,
            },
          },
        }),
      );
      for (const item of Responses?.[tableName] ?? []) items.set(String(item[TABLE.partitionKey]), item);
      pending = (UnprocessedKeys?.[tableName]?.Keys ?? []).map((key) => String(key[TABLE.partitionKey]));
    }
    unread.push(...pending);
  }
  return { items, unread };
}
