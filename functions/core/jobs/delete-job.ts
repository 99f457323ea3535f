import { ConflictError, NotFoundError } from '../errors.ts';
import { deletedEvent } from '../notify/event-builders.ts';
import { announceBestEffort } from '../notify/notifier.ts';
import type { JobStore, Log, MetricSink, Notifier, OutputStore } from '../ports.ts';
import { iso, isTerminal } from './job.ts';
import { type Caller, canAccess, ownerKeyOf } from './owner.ts';

export interface DeleteDeps {
  clock: { now(): number };
  log: Log;
  metrics: MetricSink;
  store: Pick<JobStore, 'lookup' | 'delete'>;
  outputs: Pick<OutputStore, 'deleteJobOutputs'>;
  notifier: Notifier;
}

/**
 * Deletes a finished job: its record (a tombstone stays, so a repeated delete answers the same)
 * and its outputs, and announces `Edit Job Deleted`. An active job answers 409 (cancel it first);
 * a job never seen, or another caller's, 404 — after the same single read, so neither answer nor
 * timing tells them apart. Idempotent: deleting a deleted job succeeds again (and retries removing
 * its outputs, in case an earlier attempt stopped half-way).
 */
export async function deleteJob(deps: DeleteDeps, caller: Caller, id: string): Promise<void> {
  const record = await deps.store.lookup(id);
  const mine = record?.job
    ? canAccess(caller, record.job)
    : record?.deleted !== undefined && (caller.admin || record.deleted.ownerKey === ownerKeyOf(caller.owner));
  if (!record || !mine) throw new NotFoundError(`no job with id ${id}`);
  const job = record.job;
  if (!job) {
    await deps.outputs.deleteJobOutputs(id);
    return;
  }
  if (!isTerminal(job.status)) {
    throw new ConflictError(
      'JOB_ACTIVE',
      `the job is ${job.status}; cancel it first, or wait until it ends`,
      409,
    );
  }
  const deletedAt = iso(deps.clock.now());
  // The record first: if removing the outputs then fails, a repeated delete finishes the job.
  if (!(await deps.store.delete(job, deletedAt))) {
    if (!(await deps.store.lookup(id))?.deleted) {
      throw new ConflictError('JOB_ACTIVE', 'the job changed while it was being deleted; try again', 409);
    }
  }
  // The outputs and the event are independent: in parallel, one round trip less in the API call.
  const [removed] = await Promise.all([
    deps.outputs.deleteJobOutputs(id),
    announceBestEffort(deps, id, () => deletedEvent(job, deletedAt)),
  ]);
  deps.log.info('job deleted', { jobId: id, outputsRemoved: removed });
}
