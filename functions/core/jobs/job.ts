import type { JobInput } from '../edit-request.ts';
import type { StoredOutput } from '../outputs/stored-output.ts';
import type { WebhookDelivery } from '../webhooks/delivery.ts';

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export type TerminalStatus = Exclude<JobStatus, 'queued' | 'running'>;

/** States a job can still leave; every transition out of them is a conditional write. */
export const ACTIVE_STATUSES = ['queued', 'running'] as const satisfies readonly JobStatus[];
export const TERMINAL_STATUSES = [
  'succeeded',
  'failed',
  'cancelled',
  'expired',
] as const satisfies readonly TerminalStatus[];

export function isTerminal(status: JobStatus): status is TerminalStatus {
  return !(ACTIVE_STATUSES as readonly JobStatus[]).includes(status);
}

/**
 * Stable codes of a job's error. Consumers branch on these; the message is for people.
 * - INVALID_REQUEST: a queued or event submission failed validation (HTTP callers get a 400 instead).
 * - UPSTREAM_REJECTED: RunComfy refused the submission (input, auth, billing, unknown model).
 * - UPSTREAM_FAILED: RunComfy ran the job and reported it failed.
 * - UPSTREAM_LOST: RunComfy's answer to the submission was lost, or it no longer knows the job;
 *   never resubmitted blindly, because a duplicate submission is a duplicate charge.
 * - DEADLINE_EXCEEDED: RunComfy did not finish the job before its deadline (cancelled upstream if
 *   still queued). Never used once RunComfy has finished the run: the deadline bounds the wait
 *   for RunComfy, not our own work.
 * - OUTPUT_COPY_FAILED: RunComfy finished the run, but its output files could not be copied into
 *   the bucket (refused host, not an image, too large, or still unavailable after the retry window).
 * - RESULT_HANDOVER_FAILED: RunComfy finished the run, but the result stage kept failing (the
 *   result could not be read, or the collecting function kept crashing) for the retry window.
 */
export const JOB_ERROR_CODES = [
  'INVALID_REQUEST',
  'UPSTREAM_REJECTED',
  'UPSTREAM_FAILED',
  'UPSTREAM_LOST',
  'DEADLINE_EXCEEDED',
  'OUTPUT_COPY_FAILED',
  'RESULT_HANDOVER_FAILED',
] as const;
export type JobErrorCode = (typeof JOB_ERROR_CODES)[number];

/** What one collection attempt of a finished run saw (kept on the job, the last few). */
export interface CollectAttempt {
  attempt: number;
  at: string;
  /** `result_unavailable`, `download_failed`, `upload_failed`, … */
  reason: string;
  message: string;
  /** The HTTP status the attempt got, when it got one. */
  httpStatus?: number;
}

export interface JobError {
  code: JobErrorCode;
  message: string;
  /** What RunComfy said, when it said something: its error kind, HTTP status, code and message. */
  upstream?: unknown;
  /** The invalid fields, for INVALID_REQUEST. */
  issues?: { path: string; message: string }[];
  /** For a finished run that could not be collected: what each attempt saw. */
  attempts?: CollectAttempt[];
}

/** The last passing trouble of an active job (retried): shown so a waiting caller can see why. */
export interface LastError {
  code: string;
  message: string;
  /** Which attempt of the step saw it (submission attempts, collection attempts). */
  attempt: number;
  at: string;
  /** When the step is tried again. */
  nextTryAt?: string;
}

export interface Job {
  id: string;
  status: JobStatus;
  /** The validated model input; images may be `s3://` URIs, presigned at each submission. */
  input: JobInput;
  /**
   * Who submitted it: `jwt:<issuer>|<subject>`, `iam:<principal ARN>`, `integration:<source>`, or
   * `local` (the local runtime without auth). Only its owner (or an admin) can see or act on it.
   */
  owner?: string;
  /** A hash of `owner`: the key of the owner's list index and upload prefix (never the owner in clear). */
  ownerKey?: string;
  /** The batch it belongs to, its line there (1-based), and the chunk of lines it was made in. */
  batchId?: string;
  batchLine?: number;
  batchChunk?: number;
  /** The caller's own reference and metadata, echoed on the job and in every event. */
  callerReference?: string;
  metadata?: Record<string, string>;
  /** Where the signed completion webhook goes, if the caller asked for one. */
  webhookUrl?: string;
  /** The webhook's delivery, once the job ended (only with `webhookUrl`). */
  webhook?: WebhookDelivery;
  /**
   * Admission to RunComfy: `interactive` jobs go before `batch` ones. While a job waits, it has
   * its place in line (`waitKey`, zero-padded, kept if RunComfy pushes back and it waits again);
   * `admittedAt` once it holds one of the upstream slots.
   */
  lane?: 'interactive' | 'batch';
  waitLane?: 'interactive' | 'batch';
  waitKey?: string;
  admittedAt?: string;
  /** A cancel RunComfy could not be asked yet: the poll chain retries it while the run is queued. */
  cancelRequestedAt?: string;
  /** RunComfy's request id, once the submission was accepted. */
  requestId?: string;
  queuePosition?: number;
  createdAt: string;
  updatedAt: string;
  deadlineAt: string;
  /**
   * Set when the deadline passed while RunComfy was running the job: a run in progress cannot be
   * cancelled and is billed, so its result is still collected until this time (`RUN_OVERTIME_SECONDS`).
   */
  overtimeUntil?: string;
  submittedAt?: string;
  startedAt?: string;
  /**
   * When the pipeline learnt that RunComfy's run had finished (RunComfy's own `finished_at` when
   * its result gives one). From then on the job is ours to collect: no deadline applies.
   */
  upstreamFinishedAt?: string;
  finishedAt?: string;
  outputs?: StoredOutput[];
  error?: JobError;
  /** USD RunComfy charged for the run (0 for a run cancelled while queued). */
  cost?: number;
  /** Upstream submissions started; guards against a second paid submission. */
  submitAttempts: number;
  /** Set while a submission is in flight: a crash leaves it behind, which marks the job lost. */
  submittingSince?: string;
  /** Sequence number of the job's poll chain: a stale or duplicate poll message carries an older one. */
  pollCount: number;
  lastPollMessageId?: string;
  /** Collection attempts of the finished run (each took the collection lease). */
  collectAttempts?: number;
  /**
   * The retry waits the collection's schedule has planned so far. The retry window bounds their
   * sum, so time a retry spends waiting in our own queue, or lost to a crashed attempt, never
   * shortens the window (a finished run was paid for).
   */
  collectRetryWaitMs?: number;
  /** The collection lease: only its holder copies outputs or ends the job from the result stage. */
  collectLeaseToken?: string;
  collectLeaseUntil?: string;
  /** When the next collection attempt is due (a retry, or the hand-over itself). */
  collectNextAt?: string;
  collectHistory?: CollectAttempt[];
  /** Hand-overs the sweeper repeated because the result stage looked stopped. */
  collectResends?: number;
  /** Set once the completion notification went out. */
  notifiedAt?: string;
  notifyLeaseUntil?: string;
  idempotencyKey?: string;
  lastError?: LastError;
  /** When the sweeper should look at the job (absent once nothing can be left to do). */
  sweepAt?: string;
}

export const iso = (ms: number) => new Date(ms).toISOString();
