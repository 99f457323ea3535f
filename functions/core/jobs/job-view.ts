import { toWebhookView, type WebhookView } from '../webhooks/delivery.ts';
import type { Job } from './job.ts';

/** A job as callers see it (HTTP API and notifications): snake_case, like RunComfy's own input. */
export interface JobView {
  id: string;
  status: Job['status'];
  /** Finer than `status` while the job is active: what the pipeline is doing right now. */
  phase?: 'submitting' | 'queued' | 'running' | 'copying';
  input: Job['input'];
  caller_reference?: string;
  metadata?: Record<string, string>;
  webhook_url?: string;
  /** How the completion webhook's delivery went (HTTP API only; not part of the events). */
  webhook?: WebhookView;
  upstream_request_id?: string;
  queue_position?: number;
  created_at: string;
  updated_at: string;
  deadline_at: string;
  started_at?: string;
  finished_at?: string;
  outputs?: OutputView[];
  error?: { code: string; message: string; upstream?: unknown };
}

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

export function toJobView(job: Job, outputUrls?: readonly string[]): JobView {
  return {
    id: job.id,
    status: job.status,
    phase: phaseOf(job),
    input: job.input,
    caller_reference: job.callerReference,
    metadata: job.metadata,
    webhook_url: job.webhookUrl,
    webhook: job.webhook ? toWebhookView(job.webhook) : undefined,
    upstream_request_id: job.requestId,
    queue_position: job.status === 'queued' ? job.queuePosition : undefined,
    created_at: job.createdAt,
    updated_at: job.updatedAt,
    deadline_at: job.deadlineAt,
    started_at: job.startedAt,
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
    error: job.error,
  };
}

function phaseOf(job: Job): JobView['phase'] {
  if (job.status === 'queued') return job.requestId ? 'queued' : 'submitting';
  if (job.status === 'running') return job.copyingSince ? 'copying' : 'running';
  return undefined;
}
