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
 * Records that a finished job's notification went out (`markNotified`); a batch job is counted in
 * its batch first (once per line, however often: a retry after a failed `markNotified` counts
 * nothing). The job that ends its chunk's last job records the chunk ended, and the one that ends
 * the batch's last chunk queues its completion; should either fail, the sweeper finds the batch
 * (it looks at every active batch now and then), so the job's notification does not fail for it.
 */
export async function markNotifiedAndTally(deps: JobDeps, job: Job, change: JobWrite): Promise<void> {
  await countEnded(deps, job);
  await deps.store.write(job.id, change);
}

/** Counts an ended batch job in its chunk (once per line), and moves the batch on if it was the last. */
export async function countEnded(deps: JobDeps, job: Job): Promise<void> {
  if (!job.batchId || job.batchChunk === undefined || !deps.batches) return;
  const chunk = await deps.batches.tally(job);
  if (chunk && chunk.ended >= chunk.jobs) await chunkEnded(deps, job, chunk.chunk);
}

async function chunkEnded(deps: JobDeps, job: Job, chunk: number): Promise<void> {
  const { batches } = deps;
  if (!batches || !job.batchId) return;
  try {
    const batch = await batches.markChunkEnded(job.batchId, chunk);
    if (batch && allJobsEnded(batch) && deps.queues.scheduleBatch) {
      await deps.queues.scheduleBatch([{ batchId: batch.id, step: 'complete' }]);
    }
  } catch (error) {
    deps.log.warn('could not record the end of the job’s chunk; the sweeper will', {
      jobId: job.id,
      batchId: job.batchId,
      error,
    });
  }
}
