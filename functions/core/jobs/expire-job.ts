import type { JobDeps } from './deps.ts';
import { finishJob } from './finish-job.ts';
import type { Job } from './job.ts';

/**
 * The deadline passed: cancel upstream while that still helps (RunComfy cancels queued jobs
 * only), and end the job `expired` with `DEADLINE_EXCEEDED`, recording what the cancel said.
 */
export async function expireJob(
  deps: JobDeps,
  job: Job,
  message = `the job did not finish before its deadline (${job.deadlineAt})`,
): Promise<'expired'> {
  let upstream: Record<string, unknown> | undefined;
  if (job.requestId) {
    try {
      const cancelled = await deps.runComfy.cancel(job.requestId);
      upstream = { cancel_outcome: cancelled.outcome };
    } catch (error) {
      upstream = { cancel_error: error instanceof Error ? error.message : String(error) };
    }
  }
  await finishJob(deps, job.id, {
    status: 'expired',
    error: { code: 'DEADLINE_EXCEEDED', message, upstream },
  });
  return 'expired';
}
