import { ConflictError, NotFoundError } from '../errors.ts';
import { type JobDeps, writeContext } from './deps.ts';
import { finishJob } from './finish-job.ts';
import { isTerminal, type Job } from './job.ts';
import { cancel } from './lifecycle.ts';

export class NotCancellableError extends ConflictError {
  override readonly name: string = 'NotCancellableError';
  constructor(message: string) {
    super('NOT_CANCELLABLE', message, 409);
  }
}

/**
 * Cancels a job that has not started. RunComfy cancels only queued requests; a running one
 * answers `not_cancellable`, and so does this. Cancelling a cancelled job returns it as it is.
 * The completion notification is queued rather than sent here, so that an API call's budget
 * holds at most one RunComfy call.
 */
export async function cancelJob(deps: JobDeps, jobId: string, job?: Job, retries = 2): Promise<Job> {
  job ??= await deps.store.get(jobId);
  if (!job) throw new NotFoundError(`no job with id ${jobId}`);
  if (job.status === 'cancelled') return job;
  if (isTerminal(job.status)) throw new NotCancellableError(`the job already ended (${job.status})`);
  if (job.upstreamFinishedAt) {
    throw new NotCancellableError('RunComfy has finished the job; its result is being collected');
  }
  if (job.status === 'running')
    throw new NotCancellableError('the job is running; RunComfy cannot cancel running jobs');
  if (job.submittingSince) throw new NotCancellableError('the job is being submitted; try again in a moment');

  if (job.requestId) {
    const { outcome } = await deps.runComfy.cancel(job.requestId);
    if (outcome !== 'cancelled') {
      throw new NotCancellableError(
        outcome === 'not_cancellable'
          ? 'RunComfy has started the job; running jobs cannot be cancelled'
          : 'RunComfy did not confirm the cancellation; the job goes on',
      );
    }
  }
  const cancelled = await finishJob(deps, job.id, cancel(job.requestId, writeContext(deps)), {
    notify: 'queue',
  });
  if (cancelled) return cancelled;
  // Lost a race (a submission started, the chain moved on): decide again on the fresh state.
  const current = await deps.store.get(jobId);
  if (!current) throw new NotFoundError(`no job with id ${jobId}`);
  if (retries <= 0) throw new NotCancellableError('the job changed while it was being cancelled; try again');
  return cancelJob(deps, jobId, current, retries - 1);
}
