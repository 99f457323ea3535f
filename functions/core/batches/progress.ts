import type { JobDeps } from '../jobs/deps.ts';
import { iso, type Job } from '../jobs/job.ts';
import type { JobWrite } from '../jobs/lifecycle.ts';
import { allJobsEnded, type Batch } from './batch.ts';
import { BATCH_CHECK_MS, type BatchDeps } from './deps.ts';
import type { BatchMessage } from './messages.ts';

/**
 * What moves a batch on after one of its chunks is made (or found made): once every chunk is
 * done it becomes `active`; an active batch with a cancel asked for gets its cancel step (again:
 * jobs made meanwhile), and one whose jobs all ended its completion. Safe to run any number of
 * times: the transition is conditional and the steps it queues are idempotent.
 */
export async function afterChunk(
  deps: Pick<BatchDeps, 'batches' | 'queues' | 'clock' | 'log'>,
  batch: Batch,
): Promise<void> {
  let current = batch;
  if (current.status === 'creating' && (current.chunksDone?.length ?? 0) >= (current.chunkCount ?? 0)) {
    const active = await deps.batches.activate(current.id, iso(deps.clock.now() + BATCH_CHECK_MS));
    if (active)
      deps.log.info('every job of the batch is made', { batchId: current.id, jobs: active.created });
    current = active ?? (await deps.batches.get(current.id)) ?? current;
  }
  if (current.status !== 'active') return;
  const next: BatchMessage[] = [];
  if (current.cancelRequestedAt) next.push({ batchId: current.id, step: 'cancel' });
  if (allJobsEnded(current)) next.push({ batchId: current.id, step: 'complete' });
  if (next.length > 0) await deps.queues.scheduleBatch(next);
}

/**
 * Records that a finished job's notification went out (`markNotified`) and, for a batch job,
 * counts it in its batch in the same transaction, so that each job is counted exactly once
 * whichever of its finishers (or a redelivery) gets there. The job that ends its batch's last
 * running job queues the batch's completion; should that fail, the sweeper queues it (it looks
 * at every active batch now and then), so the notification is not failed for it.
 */
export async function markNotifiedAndTally(deps: JobDeps, job: Job, change: JobWrite): Promise<void> {
  if (!job.batchId || !deps.batches) {
    await deps.store.write(job.id, change);
    return;
  }
  if (!(await deps.batches.tally(job, change))) return;
  try {
    const batch = await deps.batches.get(job.batchId);
    if (batch && allJobsEnded(batch) && deps.queues.scheduleBatch) {
      await deps.queues.scheduleBatch([{ batchId: batch.id, step: 'complete' }]);
    }
  } catch (error) {
    deps.log.warn('could not check whether the job’s batch ended; the sweeper will', {
      jobId: job.id,
      batchId: job.batchId,
      error,
    });
  }
}
