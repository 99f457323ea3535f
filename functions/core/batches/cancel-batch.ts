import { unitBudgetMs } from '#contract/budgets';
import { ConflictError, NotFoundError } from '../errors.ts';
import { cancelJob, NotCancellableError } from '../jobs/cancel-job.ts';
import { iso, isTerminal, type Job } from '../jobs/job.ts';
import { listPosition } from '../jobs/list-position.ts';
import type { Caller } from '../jobs/owner.ts';
import type { Batch } from './batch.ts';
import type { BatchDeps } from './deps.ts';
import { findOwnBatch } from './read-batch.ts';

/**
 * `POST /batches/{id}/cancel`: records the cancel and queues its work, answering at once (a batch
 * of 50,000 jobs is not cancelled inside an API call). From then on, lines whose job is not made
 * yet get a `cancelled` one, and the batch function cancels every job that has not started:
 * those waiting in line, then those queued at RunComfy. Running jobs finish. Cancelling again
 * answers the same; a batch that already ended (or was refused) answers 409.
 */
export async function requestBatchCancel(
  deps: Pick<BatchDeps, 'batches' | 'queues' | 'clock'>,
  caller: Caller,
  id: string,
): Promise<Batch> {
  await findOwnBatch(deps, caller, id);
  const requested = await deps.batches.requestCancel(id, iso(deps.clock.now()));
  if (!requested) {
    const current = await deps.batches.get(id);
    if (!current) throw new NotFoundError(`no batch with id ${id}`);
    throw new ConflictError('NOT_CANCELLABLE', `the batch already ended (${current.status})`, 409);
  }
  await deps.queues.scheduleBatch([{ batchId: id, step: 'cancel' }]);
  return requested;
}

/** Jobs looked at per message of the cancel step; the rest go on in the next one. */
const PAGE = 100;

export type CancelOutcome = 'dropped' | 'continued' | 'done';

/**
 * The cancel step: pages through the batch's jobs in the order they were made — the order they
 * wait in line, so the cancel keeps ahead of the dispatcher — and cancels those still waiting for
 * admission (nothing to ask RunComfy). Then, once, the few admitted ones still queued at
 * RunComfy. Stops taking jobs when less than one more fits in the invocation, and goes on in a
 * message of its own.
 */
export async function cancelBatchJobs(
  deps: BatchDeps,
  message: { batchId: string; after?: string },
  remainingMs: () => number = () => Number.POSITIVE_INFINITY,
): Promise<CancelOutcome> {
  const batch = await deps.batches.get(message.batchId);
  if (!batch?.cancelRequestedAt || !['validating', 'creating', 'active'].includes(batch.status))
    return 'dropped';
  const budget = unitBudgetMs('batch');
  const page = await deps.store.list({ batchId: batch.id, order: 'asc', limit: PAGE, after: message.after });
  let last = message.after;
  for (const job of page.jobs) {
    if (remainingMs() < budget) {
      await deps.queues.scheduleBatch([{ batchId: batch.id, step: 'cancel', after: last }]);
      return 'continued';
    }
    if (job.waitLane) await cancelQuietly(deps, job);
    last = listPosition(job);
  }
  if (page.next) {
    await deps.queues.scheduleBatch([{ batchId: batch.id, step: 'cancel', after: page.next }]);
    return 'continued';
  }
  // Every waiting job is cancelled: now those admitted and not started (few, from the status index).
  const queued = await deps.store.list({
    ownerKey: batch.ownerKey,
    statuses: ['queued'],
    order: 'asc',
    limit: 1_000,
  });
  for (const job of queued.jobs) {
    if (job.batchId === batch.id && remainingMs() >= budget) await cancelQuietly(deps, job);
  }
  deps.log.info('cancelled the batch’s jobs that had not started', { batchId: batch.id });
  return 'done';
}

async function cancelQuietly(deps: BatchDeps, job: Job): Promise<void> {
  if (isTerminal(job.status) || job.status === 'running') return;
  try {
    await cancelJob(deps, job.id, job);
  } catch (error) {
    // Started meanwhile (it runs to its end), or gone: nothing to cancel.
    if (!(error instanceof NotCancellableError) && !(error instanceof NotFoundError)) throw error;
  }
}
