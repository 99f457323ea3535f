import { ConflictError, NotFoundError } from '../errors.ts';
import type { JobDeps } from './deps.ts';
import { finishJob } from './finish-job.ts';
import { isTerminal, type Job } from './job.ts';

export class NotCancellableError extends ConflictError {
  override readonly name: string = 'NotCancellableError';
  constructor(message: string) {
    super('not_cancellable', message, 409);
  }
}

/**
 * Cancels a job that has not started. RunComfy cancels only queued requests; a running one
 * answers `not_cancellable`, and so does this. Cancelling a cancelled job returns it as it is.
 */
export async function cancelJob(deps: JobDeps, jobId: string): Promise<Job> {
  const job = await deps.store.get(jobId);
  if (!job) throw new NotFoundError(`no job with id ${jobId}`);
  if (job.status === 'cancelled') return job;
  if (isTerminal(job.status)) throw new NotCancellableError(`the job already ended (${job.status})`);
  if (job.status === 'running')
    throw new NotCancellableError('the job is running; RunComfy cannot cancel running jobs');

  if (!job.requestId) {
    if (job.submittingSince)
      throw new NotCancellableError('the job is being submitted; try again in a moment');
    // Not submitted yet (an earlier attempt was refused for now): nothing to cancel upstream.
    const cancelled = await finishJob(
      deps,
      job.id,
      { status: 'cancelled' },
      { absent: ['requestId', 'submittingSince'] },
    );
    // Lost a race with the submission or another finisher: decide again on the fresh state.
    return cancelled?.status === 'cancelled' ? cancelled : cancelJob(deps, jobId);
  }

  const { outcome } = await deps.runComfy.cancel(job.requestId);
  if (outcome !== 'cancelled') {
    throw new NotCancellableError(
      outcome === 'not_cancellable'
        ? 'RunComfy has started the job; running jobs cannot be cancelled'
        : 'RunComfy did not confirm the cancellation; the job goes on',
    );
  }
  const finished = await finishJob(deps, job.id, { status: 'cancelled' });
  if (!finished) throw new NotFoundError(`no job with id ${jobId}`);
  return finished;
}
