import { sweepDueBatches } from '../batches/sweep-batches.ts';
import { RunComfyError } from '../runcomfy/errors.ts';
import { dispatchAdmissions, releaseSlot } from './admission.ts';
import { type JobDeps, writeContext } from './deps.ts';
import { ensureNotified } from './finish-job.ts';
import { iso, isTerminal, type Job } from './job.ts';
import { atDeadline, endLostSubmission, expireJob, waitEndsAt } from './job-deadline.ts';
import { collectionStalledAt, handOver, postponeSweep, resendCollection } from './lifecycle.ts';
import { SUBMIT_IN_FLIGHT_MS, upstreamDetails } from './submit-upstream.ts';

export interface SweepOptions {
  /** Jobs looked after per run at most. */
  limit: number;
  /** Milliseconds left in this invocation; the sweep stops taking jobs when one might not fit. */
  remainingMs?: () => number;
  /** The worst case of one job (`worstCaseMs('sweeper')`). */
  perJobMs?: number;
}

export interface SweepSummary {
  due: number;
  /** Finished runs handed (again) to the result stage. */
  collected: number;
  /** Active jobs ended: expired, or their lost submission failed. */
  ended: number;
  /** Finished jobs whose notification was still to send. */
  notified: number;
  /** Jobs left for the next run (out of time) or that failed here (logged). */
  skipped: number;
  /** Waiting jobs admitted into free RunComfy slots. */
  admitted?: number;
  /** Batches whose stalled (or never triggered) step was queued again. */
  batches?: number;
}

/**
 * The safety net behind the queues: looks after the jobs the sweep index says are due (see
 * `TABLE.sweepIndex`) — which happens only when a queue message was lost to a DLQ, a handler
 * died at the wrong moment, or a queue send failed:
 * - an active job past its deadline (and overtime) whose poll chain stopped: a run that ended
 *   upstream is handed to the result stage; otherwise the job is cancelled upstream and `expired`
 *   (a run in progress that cannot be cancelled first gets its overtime) (or, if its
 *   submission never answered, failed `UPSTREAM_LOST`);
 * - a handed-over run whose collection stalled (no live lease, overdue): handed over again —
 *   never expired, whatever the deadline: RunComfy's run was paid for;
 * - a finished job whose notification never went out: sent.
 */
export async function sweepDueJobs(deps: JobDeps, options: SweepOptions): Promise<SweepSummary> {
  const nowMs = deps.clock.now();
  const due = await deps.store.listDue(iso(nowMs), options.limit);
  const summary: SweepSummary = { due: due.length, collected: 0, ended: 0, notified: 0, skipped: 0 };
  for (const jobId of due) {
    if (options.remainingMs && options.perJobMs && options.remainingMs() < options.perJobMs) {
      summary.skipped += 1;
      continue;
    }
    try {
      // The index is eventually consistent: decide on the job as it is now.
      const job = await deps.store.get(jobId);
      const outcome = job ? await sweepJob(deps, job) : 'none';
      if (outcome !== 'none') summary[outcome] += 1;
    } catch (error) {
      // One job's trouble must not stop the rest: it stays due for the next run.
      deps.log.error('could not sweep a job; it stays due', { jobId, error });
      summary.skipped += 1;
    }
  }
  // The safety net of admission too: nudges can be lost, and slots left by crashed handlers wait
  // for a dispatcher to reclaim them.
  if (deps.admission) summary.admitted = await dispatchAdmissions(deps);
  const { batches } = deps;
  const scheduleBatch = deps.queues.scheduleBatch?.bind(deps.queues);
  if (batches && scheduleBatch) {
    summary.batches = await sweepDueBatches(
      { ...deps, batches, queues: { ...deps.queues, scheduleBatch } },
      {
        limit: options.limit,
        hasTime: () => !options.remainingMs || !options.perJobMs || options.remainingMs() >= options.perJobMs,
      },
    );
  }
  if (summary.due > 0) deps.log.warn('swept jobs', { ...summary });
  deps.metrics.count('JobsSwept', summary.collected + summary.ended + summary.notified);
  return summary;
}

async function sweepJob(deps: JobDeps, job: Job): Promise<'collected' | 'ended' | 'notified' | 'none'> {
  const ctx = writeContext(deps);
  if (isTerminal(job.status)) {
    return (await ensureNotified(deps, job)) === 'sent' ? 'notified' : 'none';
  }
  if (job.upstreamFinishedAt) {
    // The sweep time is a lower bound: a collection not stalled yet is looked at again when it
    // would be (moved there, or a backlog of such jobs fills every sweep's page).
    if (ctx.nowMs < collectionStalledAt(job, ctx)) {
      await deps.store.write(job.id, postponeSweep(job, ctx));
      return 'none';
    }
    const resent = await deps.store.write(job.id, resendCollection(job, ctx));
    if (!resent) return 'none';
    await deps.queues.scheduleResult({ jobId: job.id, attempt: job.collectAttempts ?? 0 });
    deps.log.warn('collection of a finished run looked stopped; handed over again', {
      jobId: job.id,
      resends: resent.collectResends,
    });
    return 'collected';
  }
  if (ctx.nowMs < waitEndsAt(job) + ctx.graceMs) return 'none';
  deps.log.warn('sweeping a job whose poll chain stopped', { jobId: job.id, deadlineAt: job.deadlineAt });

  if (!job.requestId) {
    if (!job.submittingSince)
      return (await expireJob(deps, job, stoppedMessage(job))) === 'expired' ? 'ended' : 'none';
    if (ctx.nowMs - Date.parse(job.submittingSince) < SUBMIT_IN_FLIGHT_MS) return 'none';
    const lost = await endLostSubmission(deps, job.id, job.submittingSince);
    return lost ? 'ended' : 'none';
  }

  try {
    const status = await deps.runComfy.status(job.requestId);
    if (status.state === 'finished') {
      const handed = await deps.store.write(job.id, handOver(undefined, ctx));
      if (!handed) return 'none';
      await deps.queues.scheduleResult({ jobId: job.id, attempt: 0 });
      await releaseSlot(deps, handed);
      deps.log.warn('swept job had finished upstream; collecting its result', { jobId: job.id });
      return 'collected';
    }
  } catch (error) {
    if (!(error instanceof RunComfyError)) throw error;
    deps.log.warn('status check of a swept job failed; expiring it', {
      jobId: job.id,
      upstream: upstreamDetails(error),
    });
  }
  // A run still in progress may get its overtime: the sweeper then looks again when that ends.
  return (await atDeadline(deps, job, undefined, stoppedMessage(job))) === 'expired' ? 'ended' : 'none';
}

const stoppedMessage = (job: Job) =>
  `RunComfy did not finish the job before its deadline (${job.deadlineAt}); its poll chain had stopped, and the sweeper ended it`;
