import { iso } from '../jobs/job.ts';
import { allJobsEnded, type Batch, totalsOf } from './batch.ts';
import { BATCH_CHECK_MS, BATCH_RECOUNT_AFTER_MS, BATCH_STALL_MS, type BatchDeps } from './deps.ts';
import type { BatchMessage } from './messages.ts';

export type BatchSweepDeps = Pick<BatchDeps, 'batches' | 'queues' | 'clock' | 'log'>;

/**
 * Whether an active batch looks ended though no chunk's end was recorded: its chunks' counts add
 * up (a finisher died before recording it), or nothing moved it for long (a job deleted by hand
 * before it was counted). The completion step then reads the jobs, which decide.
 */
async function endedByCount(deps: BatchSweepDeps, batch: Batch, nowMs: number): Promise<boolean> {
  if (nowMs - Date.parse(batch.updatedAt) > BATCH_RECOUNT_AFTER_MS) return true;
  return totalsOf(await deps.batches.chunkTallies(batch)).ended >= batch.created;
}

/**
 * The sweeper's part for batches: those its index says are due. A validation or a chunk that
 * stalled (its message lost to the DLQ) is queued again — validation resumes with the chunks not
 * done; an active batch whose jobs all ended but whose completion was never queued (or crashed:
 * its lease ran out) gets it queued, as does one that has not moved for long (its jobs decide).
 * An active batch stays in the index, looked at every {@link BATCH_CHECK_MS}. Returns how many
 * batches it queued a step for.
 */
export async function sweepDueBatches(
  deps: BatchSweepDeps,
  options: { limit: number; hasTime: () => boolean },
): Promise<number> {
  const nowMs = deps.clock.now();
  const due = await deps.batches.listDue(iso(nowMs), options.limit);
  let queued = 0;
  for (const batchId of due) {
    if (!options.hasTime()) break;
    try {
      const batch = await deps.batches.get(batchId);
      if (!batch) continue;
      let step: BatchMessage | undefined;
      let next: number | undefined = nowMs + BATCH_CHECK_MS;
      if (batch.status === 'validating' || batch.status === 'creating') {
        step = { batchId, step: 'validate' };
        next = nowMs + BATCH_STALL_MS;
      } else if (batch.status === 'completing' || (batch.status === 'active' && allJobsEnded(batch))) {
        step = { batchId, step: 'complete' };
      } else if (batch.status === 'active' && (await endedByCount(deps, batch, nowMs))) {
        step = { batchId, step: 'complete' };
      } else if (batch.status !== 'active') {
        next = undefined;
      }
      if (step) {
        await deps.queues.scheduleBatch([step]);
        deps.log.warn('queued a batch’s step again', { batchId, status: batch.status, step: step.step });
        queued += 1;
      }
      await deps.batches.setSweepAt(batchId, next === undefined ? undefined : iso(next));
    } catch (error) {
      deps.log.error('could not sweep a batch; it stays due', { batchId, error });
    }
  }
  return queued;
}
