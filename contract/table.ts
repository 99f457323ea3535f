/**
 * The job table's key layout: one table holds job items (`job#<id>`) and idempotency-key items
 * (`idem#<hash>`). Both the construct (which creates the table and its indexes) and the store
 * adapter (which reads and writes it) take the names from here.
 */
export const TABLE = {
  partitionKey: 'pk',
  ttlAttribute: 'expiresAt',
  /**
   * A sparse, keys-only index of the jobs the sweeper may have to look after, by the time it
   * should: only such jobs carry `sweepShard`, and the store's lifecycle writes set `sweepAt`
   * (an active job's deadline plus grace, a handed-over job's next expected collection, a
   * finished job's notification lease) and drop the shard once the job is notified. So the
   * sweeper reads exactly the jobs that are due, never the whole table.
   */
  sweepIndex: { name: 'sweep-by-time', partitionKey: 'sweepShard', sortKey: 'sweepAt' },
} as const;

/** Key prefixes of the table's items. */
export const ITEM_PREFIX = { job: 'job#', idempotency: 'idem#' } as const;
