import { leaseMs } from '#contract/budgets';
import type { Config } from '#contract/config';
import { visibilityTimeoutSeconds } from '#contract/resources';
import type { JobDeps, JobSettings } from '../jobs/deps.ts';
import type { BatchFiles, BatchNotifier, BatchStore, JobQueues } from '../ports.ts';

/** The settings batches are handled with: the jobs' and where the bucket keeps uploads and outputs. */
export type BatchSettings = JobSettings &
  Pick<Config, 'outputBucket' | 'outputPrefix' | 'uploadPrefix'> &
  Partial<Pick<Config, 'batchChunkLines'>>;

/** What the batch core needs: the job core's dependencies, and the batches' store, files and queue. */
export interface BatchDeps extends JobDeps {
  config: BatchSettings;
  batches: BatchStore;
  files: BatchFiles;
  queues: JobQueues & Required<Pick<JobQueues, 'scheduleBatch'>>;
  batchNotifier: BatchNotifier;
}

/**
 * How long a batch's validation or chunk may take before the sweeper queues it again: its queue's
 * visibility timeout, so that the sweeper never races a message SQS is about to deliver again
 * (a duplicate would be harmless, only wasted).
 */
export const BATCH_STALL_MS = visibilityTimeoutSeconds('batch') * 1000;

/** How often the sweeper looks at an active batch (a completion whose trigger was lost). */
export const BATCH_CHECK_MS = 10 * 60_000;

/**
 * An active batch none of whose jobs ended for this long, while its counters say some are still
 * running, is recounted from its jobs (a job deleted by hand before it was counted).
 */
export const BATCH_RECOUNT_AFTER_MS = 60 * 60_000;

/** The completion lease: past the batch function's timeout, so two completions never overlap. */
export const BATCH_COMPLETE_LEASE_MS = leaseMs('batch');

/** A presigned link to a batch's files (results, invalid lines) lasts this long. */
export const BATCH_FILE_URL_SECONDS = 3600;
