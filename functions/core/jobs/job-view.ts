import type { Job } from './job.ts';

/** A job as callers see it (HTTP API and notifications): snake_case, like RunComfy's own input. */
export interface JobView {
  id: string;
  status: Job['status'];
  input: Job['input'];
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
    input: job.input,
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
