import type { JobStore } from '../ports.ts';
import type { Batch, BatchLineIssue, BatchStatus, BatchTotals } from './batch.ts';

/** A batch as callers see it (`GET /batches/{id}`): snake_case, like the jobs. */
export interface BatchView {
  id: string;
  status: BatchStatus;
  owner: string;
  source: Batch['source'];
  manifest?: string;
  on_invalid: Batch['onInvalid'];
  created_at: string;
  updated_at: string;
  /** Edit requests in the batch, once validated. */
  lines?: number;
  invalid_lines?: number;
  /** The first bad lines, each with its line and field path (all of them: `invalid_lines_uri`). */
  errors?: BatchLineIssue[];
  /** JSONL of every bad line (`{"line", "errors"}`), and a link to it for an hour. */
  invalid_lines_uri?: string;
  invalid_lines_url?: string;
  /** Why the manifest as a whole was refused. */
  error?: { code: string; message: string };
  /** The batch's jobs by status; `pending`: valid lines whose job is not made yet. */
  counts: BatchCounts;
  jobs_created: number;
  /** USD RunComfy charged for the batch's jobs that ended so far. */
  cost: number;
  cancel_requested_at?: string;
  completed_at?: string;
  /** The results manifest, once completed, with a link to it for an hour. */
  results?: { s3_uri: string; url?: string };
}

export interface BatchCounts {
  pending: number;
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  expired: number;
}

/**
 * The batch's counts: the ended ones from its chunks' tallies (each job counted once, as its
 * notification went out); the running ones from the status index, where few jobs are at a time
 * (admission bounds them); the rest of the jobs made are queued. A job that ended a moment ago
 * and is not counted yet shows as queued (or running) until it is.
 */
export function batchCounts(batch: Batch, totals: BatchTotals, running: number): BatchCounts {
  const { succeeded, failed, cancelled, expired } = totals.tallies;
  const valid = batch.lines === undefined ? 0 : batch.lines - (batch.invalidLines ?? 0);
  const activeJobs = Math.max(0, batch.created - totals.ended);
  const runningNow = Math.min(running, activeJobs);
  return {
    pending: batch.status === 'refused' ? 0 : Math.max(0, valid - batch.created),
    queued: activeJobs - runningNow,
    running: runningNow,
    succeeded,
    failed,
    cancelled,
    expired,
  };
}

/** How many of the batch's jobs run now: the owner's running jobs (few), those of this batch. */
export async function runningJobs(store: Pick<JobStore, 'list'>, batch: Batch): Promise<number> {
  if (batch.status !== 'creating' && batch.status !== 'active') return 0;
  const page = await store.list({
    ownerKey: batch.ownerKey,
    statuses: ['running'],
    order: 'desc',
    limit: 1_000,
  });
  return page.jobs.filter((job) => job.batchId === batch.id).length;
}

export function toBatchView(
  batch: Batch,
  options: {
    totals: BatchTotals;
    running: number;
    bucket: string;
    resultsUrl?: string;
    invalidLinesKey?: string;
    invalidLinesUrl?: string;
  },
): BatchView {
  return {
    id: batch.id,
    status: batch.status,
    owner: batch.owner,
    source: batch.source,
    manifest: batch.manifestUri,
    on_invalid: batch.onInvalid,
    created_at: batch.createdAt,
    updated_at: batch.updatedAt,
    lines: batch.lines,
    invalid_lines: batch.invalidLines,
    errors: batch.errors?.length ? batch.errors : undefined,
    invalid_lines_uri:
      batch.invalidLines && options.invalidLinesKey
        ? `s3://${options.bucket}/${options.invalidLinesKey}`
        : undefined,
    invalid_lines_url: batch.invalidLines ? options.invalidLinesUrl : undefined,
    error: batch.error,
    counts: batchCounts(batch, options.totals, options.running),
    jobs_created: batch.created,
    cost: roundUsd(options.totals.cost),
    cancel_requested_at: batch.cancelRequestedAt,
    completed_at: batch.completedAt,
    results: batch.resultsKey
      ? { s3_uri: `s3://${options.bucket}/${batch.resultsKey}`, url: options.resultsUrl }
      : undefined,
  };
}

/** Sums of binary fractions drift (0.1 + 0.2): costs are shown to a millionth of a dollar. */
export const roundUsd = (usd: number) => Math.round(usd * 1e6) / 1e6;
