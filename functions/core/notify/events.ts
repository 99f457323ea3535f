import * as z from 'zod/mini';
import { EVENTS } from '#contract/events';
import { IMAGE_SIZES, OUTPUT_FORMATS } from '../edit-input.ts';
import { ERROR_CODE } from '../errors.ts';
import { JOB_ERROR_CODES, JOB_STATUSES } from '../jobs/job.ts';
import { JOB_PHASES } from '../jobs/job-view.ts';
import { type BatchCompletedEvent, BatchCompletedEventSchema } from './batch-events.ts';

/*
 * The events the pipeline announces, as schemas: the single source of their shape. The JSON
 * Schemas in schemas/events/ are generated from these (`npm run schemas`), and a test fails when
 * the committed files are stale or when an event the code builds does not match its schema.
 *
 * Every event is one JSON document, the same wherever it goes (EventBridge `detail`, the SNS
 * message, the webhook body), with the fields a subscriber filters on at the top level.
 *
 * Building the events needs none of this: the builders live in `event-builders.ts`, which takes
 * only these types, so a function that announces events does not construct these schemas at cold
 * start (and the two modules do not import each other).
 */

const timestamp = (description: string) => z.iso.datetime().check(z.describe(description));

const ModelInputSchema = z.object({
  prompt: z.string(),
  image_urls: z.array(z.string()),
  guidance_scale: z.number(),
  seed: z.optional(z.int()),
  image_size: z.enum(IMAGE_SIZES),
  output_format: z.enum(OUTPUT_FORMATS),
});

const OutputSchema = z.object({
  index: z.int().check(z.gte(0)),
  s3_uri: z.string(),
  bucket: z.string(),
  key: z.string(),
  content_type: z.string(),
  size_bytes: z.int().check(z.gte(0)),
  sha256: z.string().check(z.describe('Hex SHA-256 of the stored bytes')),
});

const CollectAttemptSchema = z.object({
  attempt: z.int(),
  at: z.string(),
  reason: z.string(),
  message: z.string(),
  httpStatus: z.optional(z.int()),
});

const JobErrorSchema = z.object({
  code: z.enum(JOB_ERROR_CODES).check(z.describe('Stable: branch on this, not on the message')),
  message: z.string(),
  upstream: z.optional(z.unknown().check(z.describe('What RunComfy said, when it said something'))),
  issues: z.optional(z.array(z.object({ path: z.string(), message: z.string() }))),
  attempts: z.optional(
    z
      .array(CollectAttemptSchema)
      .check(z.describe('A finished run that could not be collected: what each attempt saw')),
  ),
});

const LastErrorSchema = z.object({
  code: z.string().check(z.regex(ERROR_CODE)),
  message: z.string(),
  attempt: z.int(),
  at: z.string(),
  next_try_at: z.optional(z.string()),
});

const MetadataSchema = z.record(z.string(), z.string());

const owner = z.optional(
  z
    .string()
    .check(
      z.describe(
        'Who submitted the job (`jwt:<issuer>|<subject>`, `iam:<principal ARN>`, `integration:<source>`, `local`): route or filter on it',
      ),
    ),
);

/** The job as it was when the event occurred (the HTTP API's view, without presigned URLs). */
export const EventJobSchema = z.object({
  id: z.string(),
  status: z.enum(JOB_STATUSES),
  phase: z.optional(z.enum(JOB_PHASES)),
  input: z.union([
    ModelInputSchema.check(z.describe('The model input as validated, defaults filled in')),
    z
      .record(z.string(), z.unknown())
      .check(z.describe('An INVALID_REQUEST job only: the request as sent (or a truncated copy)')),
  ]),
  owner,
  batch_id: z.optional(z.string()),
  batch_line: z.optional(z.int()),
  caller_reference: z.optional(z.string()),
  metadata: z.optional(MetadataSchema),
  webhook_url: z.optional(z.string()),
  upstream_request_id: z.optional(z.string()),
  cancel_requested_at: z.optional(
    timestamp('A cancel RunComfy could not be asked yet: retried while the run is still queued'),
  ),
  queue_position: z.optional(z.int()),
  created_at: timestamp('When the job was accepted'),
  updated_at: timestamp('When the job last changed, as of this event'),
  deadline_at: timestamp('When the job expires if RunComfy has not started it by then'),
  overtime_until: z.optional(
    timestamp(
      'Set when the deadline passed while RunComfy ran the job (a run in progress cannot be cancelled and is billed): its result is waited for until then',
    ),
  ),
  started_at: z.optional(timestamp('When RunComfy was first seen running it')),
  upstream_finished_at: z.optional(
    timestamp('When RunComfy’s run finished: the time after it is the pipeline’s own (collection)'),
  ),
  finished_at: z.optional(timestamp('When it reached its terminal status')),
  outputs: z.optional(z.array(OutputSchema)),
  cost: z.optional(
    z.number().check(z.describe('USD RunComfy charged for the run (0 when cancelled while queued)')),
  ),
  error: z.optional(JobErrorSchema),
  last_error: z.optional(
    LastErrorSchema.check(
      z.describe('While active: the last passing trouble, retried (why it is taking long)'),
    ),
  ),
});

/** Fields every event carries after `event_id`, `type` and `status`. */
const eventId = z
  .string()
  .check(z.describe('Stable per job and event: the same on every redelivery, so drop duplicates by it'));

const envelope = {
  occurred_at: timestamp('When it happened'),
  job_id: z.string(),
  owner,
  caller_reference: z.optional(z.string().check(z.describe('The caller’s own reference, when given'))),
  metadata: z.optional(MetadataSchema.check(z.describe('The caller’s metadata, when given'))),
  job: EventJobSchema,
};

export const JobSubmittedEventSchema = z
  .object({
    event_id: eventId,
    type: z.literal('edit.job.submitted'),
    status: z.literal('queued'),
    ...envelope,
  })
  .check(
    z.meta({
      title: EVENTS.jobSubmitted,
      description:
        'RunComfy accepted the job (its request id is recorded). Best effort: EventBridge only, may be missing.',
    }),
  );

export const JobStartedEventSchema = z
  .object({
    event_id: eventId,
    type: z.literal('edit.job.started'),
    status: z.literal('running'),
    ...envelope,
  })
  .check(
    z.meta({
      title: EVENTS.jobStarted,
      description:
        'RunComfy was first seen running the job. Best effort: EventBridge only; a job that finishes between two polls goes from submitted to completed.',
    }),
  );

export const JobCompletedEventSchema = z
  .object({
    event_id: eventId,
    type: z.literal('edit.job.completed'),
    status: z.enum(['succeeded', 'failed', 'cancelled', 'expired']),
    ...envelope,
  })
  .check(
    z.meta({
      title: EVENTS.jobCompleted,
      description:
        'The job reached its terminal status. At least once, on EventBridge, SNS and the job’s signed webhook.',
    }),
  );

export const JobDeletedEventSchema = z
  .object({
    event_id: eventId,
    type: z.literal('edit.job.deleted'),
    occurred_at: timestamp('When it was deleted'),
    job_id: z.string(),
    owner,
    caller_reference: z.optional(z.string()),
    metadata: z.optional(MetadataSchema),
    batch_id: z.optional(z.string()),
  })
  .check(
    z.meta({
      title: EVENTS.jobDeleted,
      description:
        'A finished job and its outputs were deleted through the API (DELETE /edits/{id}). Best effort: EventBridge only.',
    }),
  );

export type EventJob = z.infer<typeof EventJobSchema>;
export type JobDeletedEvent = z.infer<typeof JobDeletedEventSchema>;
export type JobSubmittedEvent = z.infer<typeof JobSubmittedEventSchema>;
export type JobStartedEvent = z.infer<typeof JobStartedEventSchema>;
export type CompletionEvent = z.infer<typeof JobCompletedEventSchema>;
/** Events that mark progress (or a deletion): published best effort, to EventBridge only. */
export type LifecycleEvent = JobSubmittedEvent | JobStartedEvent | JobDeletedEvent;
export type JobEvent = LifecycleEvent | CompletionEvent | BatchCompletedEvent;

/** Every event (a batch's completion too): its EventBridge detail type, schema and JSON Schema file (in schemas/events/). */
export const JOB_EVENTS = {
  'edit.job.submitted': {
    detailType: EVENTS.jobSubmitted,
    schema: JobSubmittedEventSchema,
    file: 'edit-job-submitted',
  },
  'edit.job.started': {
    detailType: EVENTS.jobStarted,
    schema: JobStartedEventSchema,
    file: 'edit-job-started',
  },
  'edit.job.completed': {
    detailType: EVENTS.jobCompleted,
    schema: JobCompletedEventSchema,
    file: 'edit-job-completed',
  },
  'edit.job.deleted': {
    detailType: EVENTS.jobDeleted,
    schema: JobDeletedEventSchema,
    file: 'edit-job-deleted',
  },
  'edit.batch.completed': {
    detailType: EVENTS.batchCompleted,
    schema: BatchCompletedEventSchema,
    file: 'edit-batch-completed',
  },
} as const;
