import { toWebhookView, type WebhookView } from '../webhooks/delivery.ts';
import { isTerminal, type Job } from './job.ts';

/** A job as callers see it (HTTP API and notifications): snake_case, like RunComfy's own input. */
export interface JobView {
  id: string;
  status: Job['status'];
  /** Finer than `status` while the job is active: what the pipeline is doing right now. */
  phase?: JobPhase;
  input: Job['input'];
  owner?: string;
  batch_id?: string;
  batch_line?: number;
  caller_reference?: string;
  metadata?: Record<string, string>;
  webhook_url?: string;
  /** How the completion webhook's delivery went (HTTP API only; not part of the events). */
  webhook?: WebhookView;
  upstream_request_id?: string;
  /** A cancel RunComfy could not be asked yet: retried while the run is still queued. */
  cancel_requested_at?: string;
  queue_position?: number;
  created_at: string;
  updated_at: string;
  deadline_at: string;
  /** Set when the deadline passed while RunComfy ran the job: its result is waited for until then. */
  overtime_until?: string;
  started_at?: string;
  /** When RunComfy's run finished: what came after is the pipeline's own time. */
  upstream_finished_at?: string;
  finished_at?: string;
  outputs?: OutputView[];
  /** USD RunComfy charged for the run, once known. */
  cost?: number;
  error?: Job['error'];
  /** While active: the last passing trouble, retried (why a job is taking long). */
  last_error?: { code: string; message: string; attempt: number; at: string; next_try_at?: string };
}

/** Finer than `status` while a job is active: what the pipeline is doing right now. */
export const JOB_PHASES = ['waiting', 'submitting', 'queued', 'running', 'copying'] as const;
export type JobPhase = (typeof JOB_PHASES)[number];

export interface OutputView {
  index: number;
  s3_uri: string;
  bucket: string;
  key: string;
  content_type: string;
  size_bytes: number;
  sha256: string;
  /** A presigned GET URL, on the HTTP API only. */
  url?: string;
}

/**
 * @param outputUrls presigned GET URLs of the outputs, in order (HTTP API only)
 * @param linePosition for a job waiting for admission: jobs ahead of it in line
 */
export function toJobView(job: Job, outputUrls?: readonly string[], linePosition?: number): JobView {
  return {
    id: job.id,
    status: job.status,
    phase: phaseOf(job),
    input: job.input,
    owner: job.owner,
    batch_id: job.batchId,
    batch_line: job.batchLine,
    caller_reference: job.callerReference,
    metadata: job.metadata,
    webhook_url: job.webhookUrl,
    webhook: job.webhook ? toWebhookView(job.webhook) : undefined,
    upstream_request_id: job.requestId,
    cancel_requested_at: job.status === 'queued' ? job.cancelRequestedAt : undefined,
    queue_position: job.status !== 'queued' ? undefined : job.waitLane ? linePosition : job.queuePosition,
    created_at: job.createdAt,
    updated_at: job.updatedAt,
    deadline_at: job.deadlineAt,
    overtime_until: job.overtimeUntil,
    started_at: job.startedAt,
    upstream_finished_at: job.upstreamFinishedAt,
    finished_at: job.finishedAt,
    outputs: job.outputs?.map((output, position) => ({
      index: output.index,
      s3_uri: output.s3Uri,
      bucket: output.bucket,
      key: output.key,
      content_type: output.contentType,
      size_bytes: output.sizeBytes,
      sha256: output.sha256,
      url: outputUrls?.[position],
    })),
    cost: job.cost,
    error: job.error,
    last_error:
      job.lastError && !isTerminal(job.status)
        ? {
            code: job.lastError.code,
            message: job.lastError.message,
            attempt: job.lastError.attempt,
            at: job.lastError.at,
            next_try_at: job.lastError.nextTryAt,
          }
        : undefined,
  };
}

function phaseOf(job: Job): JobView['phase'] {
  if (job.status === 'queued') return job.waitLane ? 'waiting' : job.requestId ? 'queued' : 'submitting';
  if (job.status === 'running') return job.upstreamFinishedAt ? 'copying' : 'running';
  return undefined;
}
