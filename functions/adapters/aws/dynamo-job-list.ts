import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { LIST_TIME_BUDGET_MS } from '#contract/budgets';
import { ITEM_PREFIX, statusPartitionsToQuery, TABLE } from '#contract/table';
import { type Clock, systemClock } from '#core/clock';
import { ServiceUnavailableError } from '#core/errors';
import type { Job } from '#core/jobs/job';
import { matchesQuery } from '#core/jobs/list-position';
import type { ListPage, ListQuery } from '#core/ports';
import { type BatchGetOptions, batchGetByKey } from './dynamo-batch-get.ts';

/**
 * `GET /edits` on DynamoDB: `Query` on the list indexes, never a scan (see `TABLE.listIndexes`).
 *
 * One index serves each request, the most selective that applies: a batch's, a caller reference's,
 * one stream per asked status (merged in order), the caller's own, or — for an admin — day by day.
 * The indexes hold keys only; the page's jobs are then read by key (`BatchGetItem`, consistent),
 * and filters the index could not apply are applied to them. Positions (`<createdAt>#<id>`) are
 * unique and never change, so a page resumes exactly after the last job of the previous one,
 * whatever arrived since. A request examines at most `examineLimit` candidates, and starts no
 * further round of reads once `LIST_TIME_BUDGET_MS` has passed (a slow or throttling table), nor
 * asks again for jobs DynamoDB left unread: a very selective filter over a long history, or a
 * throttled read, may answer a short page with a cursor, which the caller follows. The page ends
 * before the first job left unread; with none before it, the request is answered 503.
 */
export async function listJobs(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  query: ListQuery,
  toJob: (item: Record<string, unknown>) => Job,
  options: ListOptions = {},
): Promise<ListPage> {
  const descending = query.order === 'desc';
  const streams = plan(query, options).map((source) => keyStream(dynamo, tableName, source, query));
  const merged = merge(streams, descending);
  const examineLimit = options.examineLimit ?? Math.max(1_000, query.limit * 10);
  const clock = options.clock ?? systemClock;
  const until = clock.now() + (options.timeBudgetMs ?? LIST_TIME_BUDGET_MS);
  const timeIsUp = () => clock.now() >= until;
  const jobs: Job[] = [];
  let examined = 0;
  let last: string | undefined;

  for (;;) {
    const batch: string[] = [];
    let ended = false;
    while (batch.length < 100 && jobs.length + batch.length < query.limit + 50) {
      // Out of time: what was examined is answered with a cursor (a short page, as at the examine
      // limit) rather than another round of reads; a request that has examined nothing goes on.
      if (timeIsUp() && (batch.length > 0 || last !== undefined)) break;
      const next = await merged.next();
      if (next.done) {
        ended = true;
        break;
      }
      batch.push(next.value);
    }
    if (batch.length === 0) return ended ? { jobs } : { jobs, next: last };
    const { items, unread } = await readByPosition(dynamo, tableName, batch, { clock, until });
    for (const position of batch) {
      if (unread.has(position)) {
        // A job DynamoDB would not read (throttled) is neither shown nor known to be gone: the page
        // ends before it (its cursor must not pass it). With nothing before it, no page: retry.
        if (last !== undefined) return { jobs, next: last };
        throw new ServiceUnavailableError(
          'the jobs table is throttling reads; no page was answered, so no job was skipped: retry the request',
        );
      }
      examined += 1;
      last = position;
      const item = items.get(position);
      if (item && !item.deletedAt && matchesQuery(toJob(item), query)) jobs.push(toJob(item));
      if (jobs.length === query.limit) return { jobs, next: position };
    }
    if (ended) return { jobs };
    if (examined >= examineLimit || timeIsUp()) return { jobs, next: last };
  }
}

export interface ListOptions {
  /** Candidates examined at most per request (default: 1,000, or ten times the page size). */
  examineLimit?: number;
  retentionDays?: number;
  /** Today's date (`YYYY-MM-DD`): the admin listing walks the days back from it. */
  today?: string;
  clock?: Clock;
  /** After this long no further round of reads starts (see `LIST_TIME_BUDGET_MS`). */
  timeBudgetMs?: number;
}

interface Source {
  index: string;
  partitionKey: string;
  partition: string;
  sortKey: string;
  /** What the index's sort key puts before the position (the owner key, on the status index). */
  prefix: string;
}

function plan(query: ListQuery, options: ListOptions): Source[] {
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

/** The jobs at these positions, read consistently, and the positions DynamoDB would not read (throttled). */
async function readByPosition(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  positions: string[],
  options: BatchGetOptions,
): Promise<{ items: Map<string, Record<string, unknown>>; unread: Set<string> }> {
  const keyOf = (position: string) => `${ITEM_PREFIX.job}${position.slice(position.lastIndexOf('#') + 1)}`;
  const { items, unread } = await batchGetByKey(dynamo, tableName, positions.map(keyOf), options);
  const unreadKeys = new Set(unread);
  const found = new Map<string, Record<string, unknown>>();
  const missed = new Set<string>();
  for (const position of positions) {
    const item = items.get(keyOf(position));
    if (item) found.set(position, item);
    if (unreadKeys.has(keyOf(position))) missed.add(position);
  }
  return { items: found, unread: missed };
}
