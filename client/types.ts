import type { z } from 'zod/mini';
import type { BatchStatus } from '#core/batches/batch';
import type { BatchCounts, BatchView } from '#core/batches/batch-view';
import type { EditRequestSchema } from '#core/edit-request';
import type { UploadTicket } from '#core/inputs/create-upload';
import type { JobStatus } from '#core/jobs/job';
import type { JobView, OutputView } from '#core/jobs/job-view';

/*
 * Wire types of the HTTP API, taken from the pipeline's own code so they cannot drift. Objects
 * the API sends or receives keep its snake_case; what the client defines itself is camelCase.
 */

export type { BatchCounts, BatchStatus, BatchView, JobStatus, JobView, OutputView, UploadTicket };

/** What an active job is doing: `submitting`, `queued`, `running`, `copying` (outputs into S3). */
export type JobPhase = NonNullable<JobView['phase']>;

/** Statuses a job never leaves. */
export const TERMINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled', 'expired'];

export const isTerminalStatus = (status: JobStatus): boolean => TERMINAL_STATUSES.includes(status);

/**
 * The body of `POST /edits`: the model's input (the server fills in its defaults; images are
 * `https://` URLs or `s3://` URIs from `POST /uploads`) plus the caller's own fields.
 */
export type EditRequest = z.input<typeof EditRequestSchema>;

/** Checked before uploading, so a file the API would refuse is never sent; the API checks again. */
export const UPLOAD_CONTENT_TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const;
export type UploadContentType = (typeof UPLOAD_CONTENT_TYPES)[number];
export const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;

/** A local file the client uploaded; put `s3Uri` in `image_urls` (or, a manifest's, in a batch). */
export interface UploadedFile {
  s3Uri: string;
  contentType: UploadContentType | 'application/x-ndjson';
  sizeBytes: number;
  filename: string;
}

/** A batch's manifest: JSONL, one edit request per line (`POST /uploads` takes it as this type). */
export const MANIFEST_CONTENT_TYPE = 'application/x-ndjson';
export const MAX_MANIFEST_BYTES = 50 * 1024 * 1024;

/** Statuses a batch never leaves. */
export const FINAL_BATCH_STATUSES: readonly BatchStatus[] = ['completed', 'refused'];

/** The body of `POST /batches`: the edit requests themselves, or a manifest's `s3://` URI. */
export interface BatchRequest {
  requests?: EditRequest[];
  manifest?: string;
  /** `refuse` (default): a bad line refuses the batch; `skip`: bad lines are left out and reported. */
  on_invalid?: 'refuse' | 'skip';
}

/** A page of `GET /edits`. */
export interface JobList {
  items: JobView[];
  next_token?: string;
}

/** The filters of `GET /edits`, as the client takes them. */
export interface ListEditsQuery {
  /** One status or several. */
  status?: JobStatus | readonly JobStatus[];
  callerReference?: string;
  batchId?: string;
  /** Inclusive. */
  createdAfter?: Date | string;
  /** Exclusive. */
  createdBefore?: Date | string;
  /** @default 'desc' (newest first) */
  sort?: 'asc' | 'desc';
  /** Jobs per page (1–1,000). @default 50 */
  pageSize?: number;
}
