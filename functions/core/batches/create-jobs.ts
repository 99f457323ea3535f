import { unitBudgetMs } from '#contract/budgets';
import { nudgeDispatch } from '../jobs/admission.ts';
import { writeContext } from '../jobs/deps.ts';
import { iso, type Job } from '../jobs/job.ts';
import { cancelledBatchJob, newJob } from '../jobs/lifecycle.ts';
import { type Batch, batchFileKey, batchJobId } from './batch.ts';
import { BATCH_STALL_MS, type BatchDeps } from './deps.ts';
import { checkLine, isBlank, type ManifestLine, splitLines } from './lines.ts';
import type { CreateChunkMessage } from './messages.ts';
import { afterChunk, countEnded } from './progress.ts';

/** Jobs of a chunk recorded at once (each a conditional put). */
const PARALLEL_PUTS = 10;

export type CreateOutcome = 'dropped' | 'created' | 'continued';

/**
 * The chunk step: makes the job of each valid line of one chunk — a normal job in the batch lane
 * of admission (interactive edits go first), owned by the batch's owner, its id derived from the
 * batch and the line, so a chunk delivered twice makes each job once. Once a batch is cancelled,
 * a line's job is made `cancelled` instead. When every line has its job, the chunk is counted
 * (once, however often it is delivered) and the batch moved on. A chunk that does not fit in
 * what is left of the invocation goes on from its next line in a message of its own.
 */
export async function createChunkJobs(
  deps: BatchDeps,
  message: CreateChunkMessage,
  remainingMs: () => number = () => Number.POSITIVE_INFINITY,
): Promise<CreateOutcome> {
  const batch = await deps.batches.get(message.batchId);
  if (batch?.status !== 'creating') return 'dropped';
  if (!batch.chunksDone?.includes(message.chunk)) {
    const lines = await readChunk(deps, batch, message);
    // The chunk's count of ended jobs exists, knowing its size, before any of its jobs can end.
    await deps.batches.openChunk(batch.id, message.chunk, message.lines);
    const budget = unitBudgetMs('batch');
    const cancelled = Boolean(batch.cancelRequestedAt);
    // One update reserves the chunk's places in line: they follow each other, in line order.
    const lastSeq =
      !cancelled && deps.admission && lines.length > 0 ? await deps.admission.nextSeq(lines.length) : 0;
    let made = 0;
    for (let index = 0; index < lines.length; index += PARALLEL_PUTS) {
      if (remainingMs() < budget) {
        const next = lines[index] as ValidLine;
        await deps.queues.scheduleBatch([{ ...message, fromLine: next.line, start: next.start }]);
        if (made > 0 && !cancelled) await nudge(deps, batch);
        return 'continued';
      }
      const group = lines.slice(index, index + PARALLEL_PUTS);
      const results = await Promise.all(
        group.map(async (line, offset) => {
          const job = lineJob(
            deps,
            batch,
            message.chunk,
            line,
            cancelled,
            lastSeq - lines.length + 1 + index + offset,
          );
          if (cancelled) return createCancelled(deps, job);
          const created = await deps.batches.createJob(job);
          // Without admission control, a job's first heartbeat submits it (the sweeper ends a lost one).
          if (created && !deps.admission) await deps.queues.schedulePoll({ jobId: job.id, seq: 0 }, 0);
          return created;
        }),
      );
      made += results.filter(Boolean).length;
    }
    if (made > 0 && !cancelled) await nudge(deps, batch);
    deps.log.info('chunk of the batch made', { batchId: batch.id, chunk: message.chunk, made, cancelled });
  }
  const counted = await deps.batches.recordChunk(
    batch.id,
    message.chunk,
    message.lines,
    iso(deps.clock.now() + BATCH_STALL_MS),
  );
  if (counted) await afterChunk(deps, counted);
  return 'created';
}

type ValidLine = ManifestLine & { check: Extract<ReturnType<typeof checkLine>, { ok: true }> };

/** The chunk's valid lines (its bad and blank ones were reported when the batch was validated). */
async function readChunk(deps: BatchDeps, batch: Batch, message: CreateChunkMessage): Promise<ValidLine[]> {
  const checks = {
    policy: deps.inputs.policy,
    ownerKey: batch.ownerKey,
    webhooks: Boolean(deps.queues.scheduleWebhook),
    allowLoopbackHttp: deps.config.allowLoopbackHttp,
  };
  const bytes = deps.files.read(batchFileKey(deps.config.outputPrefix, batch.id, 'lines.jsonl'), {
    range: { start: message.start, end: message.end },
  });
  const valid: ValidLine[] = [];
  for await (const line of splitLines(bytes, { line: message.fromLine, byte: message.start })) {
    if (isBlank(line.text)) continue;
    const check = checkLine(line.text, checks);
    if (check.ok) valid.push({ ...line, check });
  }
  return valid;
}

function lineJob(
  deps: BatchDeps,
  batch: Batch,
  chunk: number,
  line: ValidLine,
  cancelled: boolean,
  seq: number,
): Job {
  const ctx = writeContext(deps);
  const fields = {
    id: batchJobId(batch.id, line.line),
    input: line.check.input,
    owner: batch.owner,
    ownerKey: batch.ownerKey,
    batchId: batch.id,
    batchLine: line.line,
    batchChunk: chunk,
    ...line.check.caller,
    createdAt: iso(ctx.nowMs),
    updatedAt: iso(ctx.nowMs),
    deadlineAt: iso(ctx.nowMs + deps.config.jobDeadlineSeconds * 1000),
  };
  if (cancelled) return cancelledBatchJob(fields, ctx);
  // Without admission control (not deployed so), a job is submitted by its first heartbeat.
  return newJob(fields, ctx, deps.admission ? { lane: 'batch', seq } : undefined);
}

/**
 * A line's job made `cancelled` (its batch was cancelled first): it sends no notification, so it
 * is counted here. If the line's job exists already, it is counted only if it is such a job (one
 * a crash kept from being counted); any other counts itself when its notification goes out.
 */
async function createCancelled(deps: BatchDeps, job: Job): Promise<boolean> {
  const created = await deps.batches.createJob(job);
  const existing = created ? job : await deps.store.get(job.id);
  if (existing?.status === 'cancelled' && existing.notifiedAt && existing.submitAttempts === 0) {
    await countEnded(deps, existing);
  }
  return created;
}

/** The dispatchers admit what the chunk put in line (a lost nudge: the next release or sweep does). */
async function nudge(deps: BatchDeps, batch: Batch): Promise<void> {
  await nudgeDispatch(deps).catch((error: unknown) => {
    deps.log.warn('could not nudge the dispatchers; the jobs wait for the next release or sweep', {
      batchId: batch.id,
      error,
    });
  });
}
