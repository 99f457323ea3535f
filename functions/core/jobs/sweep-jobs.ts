import { RunComfyError } from '../runcomfy/index.ts';
import type { JobDeps } from './deps.ts';
import { expireJob } from './expire-job.ts';
import { iso, isTerminal, type Job } from './job.ts';

export interface SweepOptions {
  /** How long past its deadline an active job must be before the sweeper takes it over. */
  graceSeconds: number;
  /** Jobs handled per run at most. */
  limit: number;
}

export interface SweepSummary {
  overdue: number;
  /** Upstream runs that had ended: handed to the result handler. */
  collected: number;
  expired: number;
}

/**
 * The safety net behind the poll chains: ends active jobs that are well past their deadline,
 * which happens only when a job's chain stopped (its message went to a DLQ after repeated
 * handler failures). A run that has ended upstream was paid for and is handed to the result
 * handler, once; anything else is cancelled upstream if still queued and marked `expired`.
 */
export async function sweepOverdueJobs(deps: JobDeps, options: SweepOptions): Promise<SweepSummary> {
  const nowMs = deps.clock.now();
  const overdue = await deps.store.listOverdue(iso(nowMs - options.graceSeconds * 1000), options.limit);
  const summary: SweepSummary = { overdue: overdue.length, collected: 0, expired: 0 };
  for (const jobId of overdue) {
    // The index is eventually consistent: decide on the job as it is now.
    const job = await deps.store.get(jobId);
    if (!job || isTerminal(job.status)) continue;
    const outcome = await sweepJob(deps, job, nowMs);
    summary[outcome] += 1;
  }
  if (summary.overdue > 0) deps.log.warn('swept jobs whose poll chain had stopped', { ...summary });
  deps.metrics.count('JobsSwept', summary.collected + summary.expired);
  return summary;
}

async function sweepJob(deps: JobDeps, job: Job, nowMs: number) {
  // One hand-over per job: if a later sweep still finds it active, its result keeps failing and
  // the job is expired for good rather than held open.
  if (job.requestId && !job.sweptAt) {
    try {
      const status = await deps.runComfy.status(job.requestId);
      const handedOver =
        status.state === 'finished' &&
        (await deps.store.update(
          job.id,
          { set: { sweptAt: iso(nowMs) } },
          { statusIn: ['queued', 'running'], absent: ['sweptAt'] },
          iso(nowMs),
        ));
      if (handedOver) {
        await deps.queues.scheduleResult({ jobId: job.id, attempt: 0 });
        deps.log.warn('swept job had finished upstream; collecting its result', { jobId: job.id });
        return 'collected' as const;
      }
    } catch (error) {
      if (!(error instanceof RunComfyError)) throw error;
    }
  }
  deps.log.warn('sweeping a job whose poll chain stopped', { jobId: job.id, deadlineAt: job.deadlineAt });
  return expireJob(
    deps,
    job,
    `the job did not finish before its deadline (${job.deadlineAt}); its poll chain had stopped, and the sweeper ended it`,
  );
}
