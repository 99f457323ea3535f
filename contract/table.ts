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
   * sweeper reads exactly the jobs that are due, never the whole table. Batches that may need
   * looking after (a stalled step, a completion not triggered) sit in a partition of their own.
   */
  sweepIndex: { name: 'sweep-by-time', partitionKey: 'sweepShard', sortKey: 'sweepAt' },
  /**
   * Jobs waiting for admission to RunComfy, in their lane (`interactive` before `batch`), in the
   * order they arrived (`waitKey`: their place in line, zero-padded). Only waiting jobs carry it.
   */
  waitingIndex: { name: 'admission-waiting', partitionKey: 'waitLane', sortKey: 'waitKey' },
  /**
   * The indexes `GET /edits` queries (keys only; the page's items are then read by key). All sort
   * by creation (`<createdAt>#<id>`, or that behind the owner's key), so a cursor is just the last
   * position seen and stays correct while new jobs arrive. Their keys never change after the job
   * is created, except the status index's partition, which changes once: from `active` (queued
   * and running jobs share it, so that starting to run rewrites no index entry; a listing of
   * either filters the jobs it reads) to the job's final status (`statusPartition`).
   */
  listIndexes: {
    /** One caller's jobs. */
    byOwner: { name: 'list-by-owner', partitionKey: 'listOwner', sortKey: 'listCreated' },
    /** Jobs in one status, one caller's together (`<ownerKey>#<createdAt>#<id>`). */
    byStatus: { name: 'list-by-status', partitionKey: 'listStatus', sortKey: 'listStatusSort' },
    /** One caller's jobs with one `caller_reference` (`<ownerKey>#<reference>`). */
    byReference: { name: 'list-by-reference', partitionKey: 'listReference', sortKey: 'listCreated' },
    /** One batch's jobs. */
    byBatch: { name: 'list-by-batch', partitionKey: 'listBatch', sortKey: 'listCreated' },
    /** Every caller's jobs of one UTC day (`YYYY-MM-DD`): what an admin lists. */
    byDay: { name: 'list-by-day', partitionKey: 'listDay', sortKey: 'listCreated' },
  },
} as const;

/** The status index's partition for a job in `status`: one for both active statuses. */
export const statusPartition = (status: string) =>
  status === 'queued' || status === 'running' ? 'active' : status;

/**
 * The partitions a listing of `status` queries. Tables written before the active partition held
 * queued and running jobs in partitions of their own: an active job written then is there until
 * its next status change, so those are read too (an empty partition costs one small `Query`).
 */
export const statusPartitionsToQuery = (status: string): string[] =>
  statusPartition(status) === 'active' ? ['active', 'queued', 'running'] : [status];

/** Key prefixes of the table's items. */
export const ITEM_PREFIX = {
  job: 'job#',
  idempotency: 'idem#',
  /** The one admission record: the jobs holding a RunComfy slot, the current limit, the line's counter. */
  admission: 'admission#',
  /** What RunComfy charged, per UTC day (`spend#2026-06-01`). */
  spend: 'spend#',
  /** A batch: its source, progress counters and completion (`batch#<id>`). */
  batch: 'batch#',
} as const;

/** Every global secondary index of the table. */
export const TABLE_INDEXES: readonly { name: string; partitionKey: string; sortKey: string }[] = [
  TABLE.sweepIndex,
  TABLE.waitingIndex,
  ...Object.values(TABLE.listIndexes),
];
