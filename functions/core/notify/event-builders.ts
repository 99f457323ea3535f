import { EVENTS } from '#contract/events';
import { isTerminal, type Job } from '../jobs/job.ts';
import { toJobView } from '../jobs/job-view.ts';
import type {
  CompletionEvent,
  EventJob,
  JobDeletedEvent,
  JobEvent,
  JobStartedEvent,
  JobSubmittedEvent,
} from './events.ts';

/*
 * The pipeline's events, built from a job. Their shapes are the schemas of `events.ts`; this
 * module imports only their types, so the functions that announce events (every poll that sees a
 * job start) do not construct the schemas at cold start (`npm run bench -- --only cold-start`).
 * The unit tests check every event built here against its schema.
 */

/** Each event's EventBridge detail type. */
export const EVENT_DETAIL_TYPES = {
  'edit.job.submitted': EVENTS.jobSubmitted,
  'edit.job.started': EVENTS.jobStarted,
  'edit.job.completed': EVENTS.jobCompleted,
  'edit.job.deleted': EVENTS.jobDeleted,
  'edit.batch.completed': EVENTS.batchCompleted,
} as const satisfies Record<JobEvent['type'], string>;

/** `Edit Job Deleted`: the job as it was before it was deleted. */
export function deletedEvent(job: Job, deletedAt: string): JobDeletedEvent {
  return {
    event_id: `${job.id}:deleted`,
    type: 'edit.job.deleted',
    occurred_at: deletedAt,
    job_id: job.id,
    owner: job.owner,
    caller_reference: job.callerReference,
    metadata: job.metadata,
    batch_id: job.batchId,
  };
}

/** `Edit Job Submitted`: built from the job as the write that recorded RunComfy's request id left it. */
export function submittedEvent(job: Job): JobSubmittedEvent {
  const occurredAt = required(job.submittedAt, job, 'submittedAt');
  const { event_id, ...rest } = common(job, `${job.id}:submitted`, occurredAt);
  return { event_id, type: 'edit.job.submitted', status: 'queued', ...rest };
}

/** `Edit Job Started`: built from the job as the heartbeat that saw it running left it. */
export function startedEvent(job: Job): JobStartedEvent {
  const occurredAt = required(job.startedAt, job, 'startedAt');
  const { event_id, ...rest } = common(job, `${job.id}:started`, occurredAt);
  return { event_id, type: 'edit.job.started', status: 'running', ...rest };
}

/**
 * `Edit Job Completed`. A terminal job no longer changes in substance, so this document is the
 * same whenever it is built (the notifier's send, each webhook attempt, a resend): `updated_at`
 * is the finish time, not the time of later bookkeeping writes.
 */
export function completionEvent(job: Job): CompletionEvent {
  if (!isTerminal(job.status)) throw new TypeError(`job ${job.id} has not ended (${job.status})`);
  const occurredAt = job.finishedAt ?? job.updatedAt;
  const { event_id, ...rest } = common(job, `${job.id}:${job.status}`, occurredAt);
  return { event_id, type: 'edit.job.completed', status: job.status, ...rest };
}

function common(job: Job, eventId: string, occurredAt: string) {
  return {
    event_id: eventId,
    occurred_at: occurredAt,
    job_id: job.id,
    owner: job.owner,
    caller_reference: job.callerReference,
    metadata: job.metadata,
    job: eventJob(job, occurredAt),
  };
}

/** The job view without what belongs to the HTTP API only (presigned URLs, webhook delivery state). */
function eventJob(job: Job, asOf: string): EventJob {
  const { webhook: _delivery, outputs, error: _error, ...view } = toJobView(job);
  return {
    ...view,
    updated_at: asOf,
    outputs: outputs?.map(({ url: _url, ...output }) => output),
    error: job.error,
  };
}

function required(value: string | undefined, job: Job, field: keyof Job): string {
  if (value === undefined) throw new TypeError(`job ${job.id} has no ${field}`);
  return value;
}
