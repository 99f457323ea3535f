import { markNotifiedAndTally } from '../batches/progress.ts';
import { startWebhookDelivery } from '../webhooks/start-delivery.ts';
import { releaseSlot } from './admission.ts';
import type { JobDeps } from './deps.ts';
import { writeContext } from './deps.ts';
import { isTerminal, type Job } from './job.ts';
import { type JobWrite, markNotified, releaseNotifyLease, takeNotifyLease } from './lifecycle.ts';

/**
 * Applies a finishing write (one of the lifecycle's terminal transitions), gives the job's
 * RunComfy slot back if it held one, and announces the end: sent here, under the notification
 * lease the write took. A finisher with no time to spare (`followUps: 'queue'`, an API cancel)
 * queues both instead, in parallel: the notification for the result function, the slot for a
 * dispatcher; the sweeper is behind each should even that fail. A finished run that did not
 * succeed leaves no outputs behind. Returns the job as written, or `undefined` when the write was
 * refused (someone else got there first: the caller decides again on the fresh job).
 */
export async function finishJob(
  deps: JobDeps,
  jobId: string,
  change: JobWrite,
  options: { followUps?: 'now' | 'queue' } = {},
): Promise<Job | undefined> {
  const finished = await deps.store.write(jobId, change);
  if (!finished) return undefined;
  deps.log.info('job finished', {
    jobId,
    status: finished.status,
    errorCode: finished.error?.code,
    transition: change.transition,
  });
  deps.metrics.count(finished.status === 'succeeded' ? 'JobsSucceeded' : 'JobsFailed');
  if (finished.upstreamFinishedAt) {
    deps.metrics.time?.(
      'ResultCollectionLatency',
      Date.parse(finished.finishedAt ?? finished.updatedAt) - Date.parse(finished.upstreamFinishedAt),
    );
    if (finished.status !== 'succeeded') await removeOrphanOutputs(deps, finished);
  }
  if (options.followUps === 'queue') {
    await queueFollowUps(deps, finished);
    return finished;
  }
  // A job that ends while RunComfy still had it (not handed over) gives its slot back.
  if (!finished.upstreamFinishedAt) await releaseSlot(deps, finished);
  // A finishing write meant for a queued notification (a cancel) took no lease: take it like any
  // other sender, or a handler that meets the job finished at the same moment sends it too.
  if (change.set.notifyLeaseUntil === undefined) await ensureNotified(deps, finished);
  else await sendUnderLease(deps, finished);
  return finished;
}

/**
 * The follow-ups of a finisher with no time to spare, one message each, sent in parallel. Either
 * lost is only a delay: the sweeper finds every finished job still unannounced, and a dispatch
 * that finds the slots full takes back those of ended jobs.
 */
async function queueFollowUps(deps: JobDeps, job: Job): Promise<void> {
  await Promise.all([
    deps.queues.scheduleResult({ jobId: job.id, attempt: 0 }).catch((error: unknown) => {
      deps.log.warn('could not queue the notification; the sweeper will send it', { jobId: job.id, error });
    }),
    job.upstreamFinishedAt
      ? undefined
      : releaseSlot(deps, job, 'queue').catch((error: unknown) => {
          deps.log.warn('could not queue the slot’s release; a later dispatch takes it back', {
            jobId: job.id,
            error,
          });
        }),
  ]);
}

/**
 * Deletes whatever a finished run's collection left under the job's prefix when the job did not
 * succeed (a copy cut short, an earlier attempt that crashed): no object outlives its job's failure.
 */
async function removeOrphanOutputs(deps: JobDeps, job: Job): Promise<void> {
  if (!deps.outputs) return;
  try {
    const removed = await deps.outputs.deleteJobOutputs(job.id);
    if (removed > 0) {
      deps.log.warn('deleted outputs of a job that did not succeed', { jobId: job.id, removed });
      deps.metrics.count('OrphanOutputsDeleted', removed);
    }
  } catch (error) {
    deps.log.error('could not delete the outputs of a job that did not succeed', { jobId: job.id, error });
  }
}

/**
 * Sends a finished job's notification unless it went out already: the completion event on SNS
 * and EventBridge, and, if the job asked for one, the start of its webhook delivery (which the
 * webhook function then carries out with its own retries). A lease keeps two handlers from
 * sending it at once; if the sender dies, the lease runs out and a retry (or the sweeper) sends
 * it. A duplicate remains possible only if a sender dies between sending and recording:
 * consumers drop it by `event_id`.
 */
export async function ensureNotified(deps: JobDeps, job: Job): Promise<'sent' | 'already' | 'busy'> {
  if (job.notifiedAt || !isTerminal(job.status)) return 'already';
  const leased = await deps.store.write(job.id, takeNotifyLease(writeContext(deps)));
  if (!leased) {
    const current = await deps.store.get(job.id);
    if (!current || current.notifiedAt) return 'already';
    // Another handler holds the lease: it is sending right now, or it died holding it. Either
    // way the sweeper looks at the job when the lease ends (the lease set its due time), so this
    // delivery is done; failing it would only spend its receives while the lease runs.
    deps.log.info('notification is being sent by another handler; the sweeper checks it after its lease', {
      jobId: job.id,
    });
    return 'busy';
  }
  await sendUnderLease(deps, leased);
  return 'sent';
}

/**
 * Sends the notification of a job whose lease this handler holds, then records it as sent (a
 * batch job counted in its batch first).
 */
async function sendUnderLease(deps: JobDeps, job: Job): Promise<void> {
  try {
    await deps.notifier.completed(job);
    await startWebhookDelivery(deps, job);
    await markNotifiedAndTally(deps, job, markNotified(writeContext(deps)));
  } catch (error) {
    // Another handler may try at once (a notification already sent goes out again: same event_id).
    await deps.store.write(job.id, releaseNotifyLease()).catch(() => undefined);
    throw error;
  }
}
