import { ConflictError, NotFoundError } from '../errors.ts';
import { RunComfyError } from '../runcomfy/errors.ts';
import { type JobDeps, writeContext } from './deps.ts';
import { finishJob } from './finish-job.ts';
import { isTerminal, type Job } from './job.ts';
import { cancel, requestCancel } from './lifecycle.ts';

export class NotCancellableError extends ConflictError {
  override readonly name: string = 'NotCancellableError';
  constructor(message: string) {
    super('NOT_CANCELLABLE', message, 409);
  }
}

/**
 * Cancels a job that has not started. RunComfy cancels only queued requests; a running one
 * answers `not_cancellable`, and so does this. Cancelling a cancelled job returns it as it is.
 * When RunComfy cannot be asked right now (unreachable, 5xx, 429), the request is recorded and
 * the job returned still `queued` with `cancelRequestedAt`: its poll chain asks again (see
 * {@link carryOutCancelRequest}). The completion notification and the slot's release are queued
 * rather than carried out here, so that an API call's budget holds one RunComfy call and three AWS
 * calls.
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
    let outcome: string;
    try {
      ({ outcome } = await deps.runComfy.cancel(job.requestId));
    } catch (error) {
      if (!(error instanceof RunComfyError)) throw error;
      deps.log.warn('RunComfy could not be asked to cancel; the poll chain will ask again', {
        jobId: job.id,
        error: error.message,
      });
      const requested = await deps.store.write(job.id, requestCancel(job.requestId, writeContext(deps)));
      if (requested) {
        await nudgeChain(deps, requested);
        return requested;
      }
      return retryOnFreshState(deps, jobId, retries);
    }
    if (outcome !== 'cancelled') {
      throw new NotCancellableError(
        outcome === 'not_cancellable'
          ? 'RunComfy has started the job; running jobs cannot be cancelled'
          : 'RunComfy did not confirm the cancellation; the job goes on',
      );
    }
  }
  const cancelled = await finishJob(deps, job.id, cancel(job.requestId, writeContext(deps)), {
    followUps: 'queue',
  });
  if (cancelled) return cancelled;
  return retryOnFreshState(deps, jobId, retries);
}

/**
 * Brings the job's next heartbeat forward, so that the recorded cancel is asked again soon: a
 * second message with the chain's sequence number, of which the first to arrive claims it and the
 * other is dropped as stale (the chain stays single). Best effort: the chain comes anyway.
 */
async function nudgeChain(deps: JobDeps, job: Job): Promise<void> {
  try {
    await deps.queues.schedulePoll({ jobId: job.id, seq: job.pollCount }, 2);
  } catch (error) {
    deps.log.warn('could not bring the next status check forward', { jobId: job.id, error });
  }
}

/** Lost a race (a submission started, the chain moved on): decide again on the fresh state. */
async function retryOnFreshState(deps: JobDeps, jobId: string, retries: number): Promise<Job> {
  const current = await deps.store.get(jobId);
  if (!current) throw new NotFoundError(`no job with id ${jobId}`);
  if (retries <= 0) throw new NotCancellableError('the job changed while it was being cancelled; try again');
  return cancelJob(deps, jobId, current, retries - 1);
}

/**
 * A heartbeat of a job with a pending cancel request, still queued upstream: asks RunComfy again
 * and, once it confirms, ends the job `cancelled`. `undefined`: not this time (the chain goes on).
 */
export async function carryOutCancelRequest(deps: JobDeps, job: Job): Promise<Job | undefined> {
  if (!job.requestId || !job.cancelRequestedAt) return undefined;
  try {
    if ((await deps.runComfy.cancel(job.requestId)).outcome !== 'cancelled') return undefined;
  } catch (error) {
    if (!(error instanceof RunComfyError)) throw error;
    return undefined;
  }
  return finishJob(deps, job.id, cancel(job.requestId, writeContext(deps)));
}
