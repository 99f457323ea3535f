import type { z } from 'zod/mini';
import type { EditInputSchema } from '#core/edit-input';
import type { JobStatus } from '#core/jobs/job';
import type { JobView as CoreJobView, OutputView } from '#core/jobs/job-view';

/*
 * Wire types of the HTTP API. Objects the API sends or receives keep its snake_case; types the
 * client defines itself (options, results of client-side work) are camelCase.
 */

export type { JobStatus, OutputView };

/** What an active job is doing beyond its status; `copying` while outputs are copied into S3. */
export type JobPhase = 'copying' | (string & {});

/** A job as `GET /edits/{id}` returns it; `outputs[].url` are presigned GET URLs there. */
export type JobView = CoreJobView & { phase?: JobPhase };

/** Statuses a job never leaves. */
export const TERMINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled', 'expired'];

export const isTerminalStatus = (status: JobStatus): boolean => TERMINAL_STATUSES.includes(status);

/**
 * The body of `POST /edits`: the model's input (the server fills in its defaults) plus the
 * caller's own bookkeeping fields.
 */
export type EditRequest = z.input<typeof EditInputSchema> & {
  /** Your own id for the job, echoed back in notifications. */
  caller_reference?: string;
  metadata?: Record<string, string>;
  /** Where the pipeline POSTs the finished job. */
  webhook_url?: string;
};

export const UPLOAD_CONTENT_TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const;
export type UploadContentType = (typeof UPLOAD_CONTENT_TYPES)[number];

/** The largest input image `POST /uploads` accepts. */
export const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;

/** The answer of `POST /uploads`: where to PUT the bytes, and the URI to submit afterwards. */
export interface UploadTicket {
  upload_url: string;
  method: 'PUT';
  /** Send exactly these headers with the PUT: the URL's signature covers them. */
  headers: Record<string, string>;
  s3_uri: string;
  expires_at: string;
}

/** A local file the client uploaded; put `s3Uri` in `image_urls`. */
export interface UploadedFile {
  s3Uri: string;
  contentType: UploadContentType;
  sizeBytes: number;
  filename: string;
}
