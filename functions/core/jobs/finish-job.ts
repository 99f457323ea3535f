import { startWebhookDelivery } from '../webhooks/start-delivery.ts';
import type { JobDeps } from './deps.ts';
import { ACTIVE_STATUSES, iso, isTerminal, type Job, type JobError, type TerminalStatus } from './job.ts';
import type { WriteCondition } from './job-store.ts';

/** How long one handler may hold the right to send a job's notification before another may. */
const NOTIFY_LEASE_MS = 60_000;

export class NotificationBusyError extends Error {
  override readonly name: string = 'NotificationBusyError';
}

/**
 * Moves an active job to its one terminal state and sends the completion notification.
 * The write is conditional on the job still being active, so of two racing finishers exactly
 * one wins; the loser returns the job as the winner left it.
 */
export async function finishJob(
  deps: JobDeps,
  jobId: string,
  outcome: { status: TerminalStatus; error?: JobError; set?: Partial<Job> },
  onlyIf: Omit<WriteCondition, 'statusIn'> = {},
): Promise<Job | undefined> {
  const nowMs = deps.clock.now();
  const now = iso(nowMs);
  const finished = await deps.store.update(
    jobId,
    {
      // The winner takes the notification lease in the same write: one DynamoDB write per job less.
      set: {
        ...outcome.set,
        status: outcome.status,
        error: outcome.error,
        finishedAt: now,
        notifyLeaseUntil: iso(nowMs + NOTIFY_LEASE_MS),
      },
      remove: ['queuePosition'],
    },
    { ...onlyIf, statusIn: ACTIVE_STATUSES },
    now,
  );
  const job = finished ?? (await deps.store.get(jobId));
  if (!job) return undefined;
  if (!finished) {
    await ensureNotified(deps, job);
    return job;
  }
  deps.log.info('job finished', { jobId, status: job.status, errorCode: job.error?.code });
  deps.metrics.count(job.status === 'succeeded' ? 'JobsSucceeded' : 'JobsFailed');
  await sendUnderLease(deps, finished);
  return job;
}

/**
 * Sends a terminal job's notification unless it went out already: the completion event on SNS
 * and EventBridge, and, if the job asked for one, the start of its webhook delivery (which the
 * webhook function then carries out with its own retries). A lease keeps two handlers from
 * sending it at once; if the sender dies, the lease runs out and a retry sends it. A duplicate
 * remains possible only if a sender dies between sending and recording: consumers drop it by
 * `event_id`.
 */
export async function ensureNotified(deps: JobDeps, job: Job): Promise<void> {
  if (job.notifiedAt || !isTerminal(job.status)) return;
  const nowMs = deps.clock.now();
  const leased = await deps.store.update(
    job.id,
    { set: { notifyLeaseUntil: iso(nowMs + NOTIFY_LEASE_MS) } },
    {
      absent: ['notifiedAt'],
      expression: {
        text: 'attribute_not_exists(#lease) OR #lease < :now',
        names: { '#lease': 'notifyLeaseUntil' },
        values: { ':now': iso(nowMs) },
      },
    },
    iso(nowMs),
  );
  if (!leased) {
    const current = await deps.store.get(job.id);
    if (current?.notifiedAt) return;
    // Another handler is sending it right now: fail this delivery so that it is retried later.
    throw new NotificationBusyError(`notification of job ${job.id} is being sent by another handler`);
  }
  await sendUnderLease(deps, leased);
}

/** Sends the notification of a job whose lease this handler holds, then records it as sent. */
async function sendUnderLease(deps: JobDeps, job: Job): Promise<void> {
  try {
    await deps.notifier.completed(job);
    await startWebhookDelivery(deps, job);
  } catch (error) {
    await deps.store
      .update(
        job.id,
        { set: {}, remove: ['notifyLeaseUntil'] },
        { absent: ['notifiedAt'] },
        iso(deps.clock.now()),
      )
      .catch(() => undefined);
    throw error;
  }
  await deps.store.update(
    job.id,
    { set: { notifiedAt: iso(deps.clock.now()) }, remove: ['notifyLeaseUntil'] },
    {},
    iso(deps.clock.now()),
  );
}
