import type { JobInput } from '../edit-request.ts';
import type { StoredOutput } from '../outputs/index.ts';
import type { WebhookDelivery } from '../webhooks/delivery.ts';

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export type TerminalStatus = Exclude<JobStatus, 'queued' | 'running'>;

/** States a job can still leave; every transition out of them is a conditional write. */
export const ACTIVE_STATUSES: readonly JobStatus[] = ['queued', 'running'];

export function isTerminal(status: JobStatus): status is TerminalStatus {
  return !ACTIVE_STATUSES.includes(status);
}

/**
 * Stable codes of a job's error. Consumers branch on these; the message is for people.
 * - INVALID_REQUEST: a queued or event submission failed validation (HTTP callers get a 400 instead).
 * - UPSTREAM_REJECTED: RunComfy refused the submission (input, auth, billing, unknown model).
 * - UPSTREAM_FAILED: RunComfy accepted the job and reported it failed.
 * - UPSTREAM_LOST: RunComfy's answer was lost or it no longer knows the job; never resubmitted
 *   blindly, because a duplicate submission is a duplicate charge.
 * - DEADLINE_EXCEEDED: the job did not finish before its deadline (cancelled upstream if still queued).
 * - OUTPUT_COPY_FAILED: RunComfy produced outputs that could not be copied into the bucket.
 */
export const JOB_ERROR_CODES = [
  'INVALID_REQUEST',
  'UPSTREAM_REJECTED',
  'UPSTREAM_FAILED',
  'UPSTREAM_LOST',
  'DEADLINE_EXCEEDED',
  'OUTPUT_COPY_FAILED',
] as const;
export type JobErrorCode = (typeof JOB_ERROR_CODES)[number];

export interface JobError {
  code: JobErrorCode;
  message: string;
  /** What RunComfy said, when it said something: its error kind, HTTP status, code and message. */
  upstream?: unknown;
  /** The invalid fields, for INVALID_REQUEST. */
  issues?: { path: string; message: string }[];
}

export interface Job {
  id: string;
  status: JobStatus;
  /** The validated model input; images may be `s3://` URIs, presigned at each submission. */
  input: JobInput;
  /** The caller's own reference and metadata, echoed on the job and in every event. */
  callerReference?: string;
  metadata?: Record<string, string>;
  /** Where the signed completion webhook goes, if the caller asked for one. */
  webhookUrl?: string;
  /** The webhook's delivery, once the job ended (only with `webhookUrl`). */
  webhook?: WebhookDelivery;
  /** Set while the result handler copies the outputs (status stays `running`). */
  copyingSince?: string;
  /** RunComfy's request id, once the submission was accepted. */
  requestId?: string;
  queuePosition?: number;
  createdAt: string;
  updatedAt: string;
  deadlineAt: string;
  submittedAt?: string;
  startedAt?: string;
  finishedAt?: string;
  outputs?: StoredOutput[];
  error?: JobError;
  /** Upstream submissions started; guards against a second paid submission. */
  submitAttempts: number;
  /** Set while a submission is in flight: a crash leaves it behind, which marks the job lost. */
  submittingSince?: string;
  /** Sequence number of the job's poll chain: a stale or duplicate poll message carries an older one. */
  pollCount: number;
  lastPollMessageId?: string;
  /** Set when the sweeper handed a stranded job's finished run to the result handler (once only). */
  sweptAt?: string;
  /** Set once the completion notification went out. */
  notifiedAt?: string;
  notifyLeaseUntil?: string;
  idempotencyKey?: string;
  /** The last transient upstream problem (retried), or a status spelling the client did not know. */
  lastUpstreamError?: Record<string, unknown>;
}

export const iso = (ms: number) => new Date(ms).toISOString();
