import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { ITEM_PREFIX, statusPartitionsToQuery, TABLE } from '#contract/table';
import { ServiceUnavailableError } from '#core/errors';
import type { Job } from '#core/jobs/job';
import { matchesQuery } from '#core/jobs/list-position';
import type { ListPage, ListQuery } from '#core/ports';
import { batchGetByKey } from './dynamo-batch-get.ts';

/**
 * `GET /edits` on DynamoDB: `Query` on the list indexes, never a scan (see `TABLE.listIndexes`).
 *
 * One index serves each request, the most selective that applies: a batch's, a caller reference's,
 * one stream per asked status (merged in order), the caller's own, or — for an admin — day by day.
 * The indexes hold keys only; the page's jobs are then read by key (`BatchGetItem`, consistent),
 * and filters the index could not apply are applied to them. Positions (`<createdAt>#<id>`) are
 * unique and never change, so a page resumes exactly after the last job of the previous one,
 * whatever arrived since. A request examines at most `examineLimit` candidates: a very selective
 * filter over a long history may answer a short page with a cursor, which the caller follows.
 */
export async function listJobs(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  query: ListQuery,
  toJob: (item: Record<string, unknown>) => Job,
  options: { examineLimit?: number; retentionDays?: number; today?: string } = {},
): Promise<ListPage> {
  const descending = query.order === 'desc';
  const streams = plan(query, options).map((source) => keyStream(dynamo, tableName, source, query));
  const merged = merge(streams, descending);
  const examineLimit = options.examineLimit ?? Math.max(1_000, query.limit * 10);
  const jobs: Job[] = [];
  let examined = 0;
  let last: string | undefined;

  for (;;) {
    const batch: string[] = [];
    while (batch.length < 100 && jobs.length + batch.length < query.limit + 50) {
      const next = await merged.next();
      if (next.done) break;
      batch.push(next.value);
    }
    if (batch.length === 0) return { jobs };
    const { items, unread } = await readByPosition(dynamo, tableName, batch);
    // A job DynamoDB would not read (throttled) is neither shown nor known to be gone: a page that
    // left it out would move the cursor past it for good. No page, then: the caller retries.
    if (unread > 0) {
      throw new ServiceUnavailableError(
        'the jobs table is throttling reads; no page was answered, so no job was skipped: retry the request',
      );
    }
    for (const position of batch) {
      examined += 1;
      last = position;
      const item = items.get(position);
      if (item && !item.deletedAt && matchesQuery(toJob(item), query)) jobs.push(toJob(item));
      if (jobs.length === query.limit) return { jobs, next: position };
    }
    if (examined >= examineLimit) return { jobs, next: last };
  }
}

interface Source {
  index: string;
  partitionKey: string;
  partition: string;
  sortKey: string;
  /** What the index's sort key puts before the position (the owner key, on the status index). */
  prefix: string;
}

function plan(query: ListQuery, options: { retentionDays?: number; today?: string }): Source[] {
  const { byOwner, byStatus, byReference, byBatch, byDay } = TABLE.listIndexes;
  const on = (
    index: typeof byOwner | typeof byReference | typeof byBatch | typeof byDay,
    partition: string,
  ) => ({
    index: index.name,
    partitionKey: index.partitionKey,
    partition,
    sortKey: index.sortKey,
    prefix: '',
  });
  if (query.batchId) return [on(byBatch, query.batchId)];
  if (query.ownerKey && query.callerReference)
    return [on(byReference, `${query.ownerKey}#${query.callerReference}`)];
  if (query.ownerKey && query.statuses?.length) {
    // Queued and running jobs share a partition: the jobs read are filtered by their status.
    return [...new Set(query.statuses.flatMap(statusPartitionsToQuery))].map((status) => ({
      index: byStatus.name,
      partitionKey: byStatus.partitionKey,
      partition: status,
      sortKey: byStatus.sortKey,
      prefix: `${query.ownerKey}#`,
    }));
  }
  if (query.ownerKey) return [on(byOwner, query.ownerKey)];
  // An admin: every caller's jobs, one day at a time (jobs older than the retention are gone).
  const today = options.today ?? new Date().toISOString().slice(0, 10);
  const oldest = new Date(Date.parse(today) - (options.retentionDays ?? 30) * 86_400_000)
    .toISOString()
    .slice(0, 10);
  const from = (query.createdAfter ?? oldest).slice(0, 10);
  const to = (query.createdBefore ?? today).slice(0, 10);
  const days: string[] = [];
  const last = Math.min(Date.parse(to), Date.parse(today));
  const first = Math.max(Date.parse(from), Date.parse(oldest));
  for (let day = last; day >= first; day -= 86_400_000) {
    days.push(new Date(day).toISOString().slice(0, 10));
  }
  const ordered = query.order === 'desc' ? days : days.reverse();
  return ordered.map((day) => on(byDay, day));
}

/** The positions one index partition holds in the query's range, in order, paged lazily. */
async function* keyStream(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  source: Source,
  query: ListQuery,
): AsyncGenerator<string> {
  const descending = query.order === 'desc';
  let lower = query.createdAfter ?? '0';
  let upper = query.createdBefore ?? '9';
  // The cursor narrows the range; the position itself was on the previous page.
  if (query.after) {
    if (descending && query.after < upper) upper = query.after;
    if (!descending && query.after > lower) lower = query.after;
  }
  if (lower > upper) return;
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(
      new QueryCommand({
        TableName: tableName,
        IndexName: source.index,
        KeyConditionExpression: '#p = :p AND #s BETWEEN :lower AND :upper',
        ExpressionAttributeNames: { '#p': source.partitionKey, '#s': source.sortKey },
        ExpressionAttributeValues: {
          ':p': source.partition,
          ':lower': `${source.prefix}${lower}`,
          ':upper': `${source.prefix}${upper}`,
        },
        ScanIndexForward: !descending,
        ExclusiveStartKey: startKey,
        Limit: 200,
      }),
    );
    for (const item of page.Items ?? []) {
      const position = String(item[source.sortKey]).slice(source.prefix.length);
      if (position === query.after || position === query.createdBefore) continue;
      yield position;
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
}

/** Positions of several ordered streams, in one order (k-way merge). */
async function* merge(streams: AsyncGenerator<string>[], descending: boolean): AsyncGenerator<string> {
  const heads = await Promise.all(streams.map((stream) => stream.next()));
  let last: string | undefined;
  for (;;) {
    let pick = -1;
    heads.forEach((head, index) => {
      if (head.done) return;
      const current = heads[pick]?.value as string | undefined;
      if (pick < 0 || (descending ? head.value > (current as string) : head.value < (current as string)))
        pick = index;
    });
    if (pick < 0) return;
    const value = heads[pick]?.value as string;
    // A job whose status partition changed while the streams were read may be in two of them.
    if (value !== last) yield value;
    last = value;
    heads[pick] = await (streams[pick] as AsyncGenerator<string>).next();
  }
}

/** The jobs at these positions, read consistently, and how many DynamoDB would not read (throttled). */
async function readByPosition(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  positions: string[],
): Promise<{ items: Map<string, Record<string, unknown>>; unread: number }> {
  const keyOf = (position: string) => `${ITEM_PREFIX.job}${position.slice(position.lastIndexOf('#') + 1)}`;
  const { items, unread } = await batchGetByKey(dynamo, tableName, positions.map(keyOf));
  const found = new Map<string, Record<string, unknown>>();
  for (const position of positions) {
    const item = items.get(keyOf(position));
    if (item) found.set(position, item);
  }
  return { items: found, unread: unread.length };
}
