import { createHash } from 'node:crypto';
import type { FieldIssue } from '../errors.ts';
import type { TerminalStatus } from '../jobs/job.ts';

/**
 * A batch's life: `validating` (its manifest is read and checked line by line) → `refused` (bad
 * lines, or a manifest that cannot be used) or `creating` (its jobs are being made, chunk by
 * chunk) → `active` (every job made; they run) → `completing` (every job ended: the results
 * manifest and the one `Edit Batch Completed` notification are being written, under a lease) →
 * `completed`. Every change is a conditional write.
 */
export const BATCH_STATUSES = [
  'validating',
  'refused',
  'creating',
  'active',
  'completing',
  'completed',
] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

/** The limits of a batch, documented in the README. */
export const BATCH_LIMITS = {
  /** Edit requests in `POST /batches` itself. */
  inlineRequests: 1_000,
  /** Edit requests in a manifest (JSONL, one per line). */
  manifestLines: 50_000,
  /** A manifest's size. */
  manifestBytes: 50 * 1024 * 1024,
  /** Invalid lines kept on the batch record (all of them are in its `invalid.jsonl`). */
  recordedErrors: 20,
} as const;

/** A bad line of a batch: its number (1-based, as an editor counts) and the field's path. */
export interface BatchLineIssue extends FieldIssue {
  line: number;
}

/** Ended jobs, per status. */
export type BatchTallies = Record<TerminalStatus, number>;

/**
 * What the batch's ended jobs add up to: each job is counted once, as its notification goes out,
 * in the counter of the chunk it was made in (so no single item takes every job's update).
 */
export interface BatchTotals {
  ended: number;
  tallies: BatchTallies;
  /** USD RunComfy charged for them. */
  cost: number;
}

/** One chunk's count of its ended jobs. */
export interface ChunkTally {
  chunk: number;
  /** Jobs the chunk makes (its valid lines). */
  jobs: number;
  ended: number;
  tallies: BatchTallies;
  cost: number;
}

export interface Batch {
  id: string;
  status: BatchStatus;
  /** Who submitted it; its jobs are theirs (see `Job.owner`). */
  owner: string;
  ownerKey: string;
  /** `inline`: the lines came in `POST /batches`; `manifest`: from the caller's JSONL upload. */
  source: 'inline' | 'manifest';
  /** The caller's manifest (`s3://…`), for a manifest batch. */
  manifestUri?: string;
  /** What to do with bad lines: refuse the batch, or skip them (reported). */
  onInvalid: 'refuse' | 'skip';
  createdAt: string;
  updatedAt: string;
  idempotencyKey?: string;
  /** Edit requests in the manifest (blank lines do not count), once validated. */
  lines?: number;
  invalidLines?: number;
  /** The first few bad lines (every one is in the batch's `invalid.jsonl`). */
  errors?: BatchLineIssue[];
  /** Why the manifest as a whole was refused (not found, too large, too many lines, …). */
  error?: { code: string; message: string };
  /** Chunks the lines were split into, those whose jobs are all made, and those whose jobs all ended. */
  chunkCount?: number;
  chunksDone?: number[];
  chunksEnded?: number[];
  /** Jobs made: every valid line of each chunk done. */
  created: number;
  cancelRequestedAt?: string;
  /** The completion lease: only its holder writes the results and sends the notification. */
  completeToken?: string;
  completeLeaseUntil?: string;
  completedAt?: string;
  /** The results manifest's key in the output bucket, once written. */
  resultsKey?: string;
  /** When the sweeper should look at the batch (a step that may have stalled). */
  sweepAt?: string;
}

export const emptyTallies = (): BatchTallies => ({ succeeded: 0, failed: 0, cancelled: 0, expired: 0 });

/** The chunks' counts, added up. */
export function totalsOf(chunks: readonly ChunkTally[]): BatchTotals {
  const totals: BatchTotals = { ended: 0, tallies: emptyTallies(), cost: 0 };
  for (const chunk of chunks) {
    totals.ended += chunk.ended;
    totals.cost += chunk.cost;
    for (const status of Object.keys(totals.tallies) as TerminalStatus[]) {
      totals.tallies[status] += chunk.tallies[status];
    }
  }
  return totals;
}

/**
 * The id of the job of a batch's line: derived from both (a UUID in form), so that a chunk
 * delivered twice, or created again after a crash, finds the line's job made already rather than
 * making a second one.
 *
 * @example
 * batchJobId('3f1c…', 17); // always the same id for line 17 of that batch
 */
export function batchJobId(batchId: string, line: number): string {
  const hex = createHash('sha256').update(`batch-line\n${batchId}\n${line}`).digest('hex');
  const variant = ((Number.parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Where a batch's files live in the output bucket, next to the jobs' outputs. */
export function batchFileKey(
  outputPrefix: string,
  batchId: string,
  file: 'lines.jsonl' | 'invalid.jsonl' | 'results.jsonl',
): string {
  return `${outputPrefix}batches/${batchId}/${file}`;
}

/** Whether every job of the batch has ended, by its chunks: what completes it. */
export function allJobsEnded(batch: Pick<Batch, 'status' | 'chunkCount' | 'chunksEnded'>): boolean {
  return batch.status === 'active' && (batch.chunksEnded?.length ?? 0) >= (batch.chunkCount ?? 0);
}
