import { randomUUID } from 'node:crypto';
import { unitBudgetMs } from '#contract/budgets';
import { iso, isTerminal, type Job, type TerminalStatus } from '../jobs/job.ts';
import type { BatchCompletedEvent } from '../notify/batch-events.ts';
import { type Batch, batchFileKey, emptyTallies } from './batch.ts';
import { roundUsd } from './batch-view.ts';
import { BATCH_COMPLETE_LEASE_MS, type BatchDeps } from './deps.ts';
import { splitLines } from './lines.ts';

/** One line of a results manifest: what became of one line of the batch. */
export interface ResultRow {
  line: number;
  job_id?: string;
  status: TerminalStatus | 'invalid';
  /** Who submitted the batch: its jobs' owner (see `Job.owner`). */
  owner?: string;
  caller_reference?: string;
  outputs?: { s3_uri: string; sha256: string; content_type: string; size_bytes: number }[];
  error?: { code: string; message: string; issues?: { path: string; message: string }[] };
  cost?: number;
}

export type CompleteOutcome = 'dropped' | 'busy' | 'not_ended' | 'completed';

/**
 * The completion step, once per batch: takes the completion lease (a conditional write only one
 * delivery wins: the batch must be `active`, or `completing` with its lease run out after a
 * crash), reads every job of the batch — the jobs decide: one not ended gives the lease back —,
 * writes the results manifest next to the outputs, sends the one `Edit Batch Completed`
 * notification and records the batch `completed`. A duplicate delivery finds the lease taken, or
 * the batch completed, and does nothing. Only a crash between sending and recording sends it
 * again (with the same `event_id`).
 */
export async function completeBatch(
  deps: BatchDeps,
  batchId: string,
  options: { remainingMs?: () => number } = {},
): Promise<CompleteOutcome> {
  const batch = await deps.batches.get(batchId);
  if (!batch || batch.status === 'completed') return 'dropped';
  const token = randomUUID();
  const nowMs = deps.clock.now();
  const leased = await deps.batches.startCompletion(batch.id, token, nowMs + BATCH_COMPLETE_LEASE_MS, nowMs);
  if (!leased) return 'busy';

  const rows = await jobRows(deps, leased, options.remainingMs);
  if (!rows) {
    await deps.batches.releaseCompletion(batch.id, token);
    return 'not_ended';
  }
  if (leased.invalidLines) rows.push(...(await invalidRows(deps, leased)));
  rows.sort((a, b) => a.line - b.line);

  const resultsKey = batchFileKey(deps.config.outputPrefix, batch.id, 'results.jsonl');
  await deps.files.put(
    resultsKey,
    rows.map((row) => JSON.stringify(row)).join('\n') + (rows.length ? '\n' : ''),
    {
      // The owner, for whoever finds the file in the bucket (S3 metadata is ASCII: encoded).
      metadata: { owner: encodeURIComponent(leased.owner), 'batch-id': leased.id },
    },
  );
  await deps.batchNotifier.batchCompleted(completedEvent(deps, leased, rows, resultsKey));
  const completed = await deps.batches.finishCompletion(batch.id, token, resultsKey, iso(deps.clock.now()));
  deps.log.info('batch completed', { batchId: batch.id, rows: rows.length, recorded: Boolean(completed) });
  return 'completed';
}

/** Every job's row, or `undefined` when a job has not ended (or there was no time to read them all). */
async function jobRows(
  deps: BatchDeps,
  batch: Batch,
  remainingMs: () => number = () => Number.POSITIVE_INFINITY,
): Promise<ResultRow[] | undefined> {
  const rows: ResultRow[] = [];
  let after: string | undefined;
  do {
    if (remainingMs() < unitBudgetMs('batch')) {
      deps.log.warn('no time left to read the batch’s jobs; its completion is retried', {
        batchId: batch.id,
      });
      return undefined;
    }
    const page = await deps.store.list({ batchId: batch.id, order: 'asc', limit: 1_000, after });
    for (const job of page.jobs) {
      if (!isTerminal(job.status)) {
        deps.log.warn('a job of the batch has not ended; completion waits', {
          batchId: batch.id,
          jobId: job.id,
        });
        return undefined;
      }
      rows.push(resultRow(job));
    }
    after = page.next;
  } while (after);
  return rows;
}

export function resultRow(job: Job): ResultRow {
  return {
    line: job.batchLine ?? 0,
    job_id: job.id,
    status: job.status as TerminalStatus,
    ...(job.owner ? { owner: job.owner } : {}),
    ...(job.callerReference ? { caller_reference: job.callerReference } : {}),
    ...(job.outputs?.length
      ? {
          outputs: job.outputs.map((output) => ({
            s3_uri: output.s3Uri,
            sha256: output.sha256,
            content_type: output.contentType,
            size_bytes: output.sizeBytes,
          })),
        }
      : {}),
    ...(job.error ? { error: { code: job.error.code, message: job.error.message } } : {}),
    cost: job.cost ?? 0,
  };
}

/** The skipped lines, from the batch's `invalid.jsonl`. */
async function invalidRows(deps: BatchDeps, batch: Batch): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  const file = deps.files.read(batchFileKey(deps.config.outputPrefix, batch.id, 'invalid.jsonl'));
  for await (const { text } of splitLines(file)) {
    if (!text.trim()) continue;
    const { line, errors } = JSON.parse(text) as {
      line: number;
      errors: { path: string; message: string }[];
    };
    rows.push({
      line,
      status: 'invalid',
      owner: batch.owner,
      error: { code: 'INVALID_REQUEST', message: `line ${line} is invalid; it was skipped`, issues: errors },
    });
  }
  return rows;
}

function completedEvent(
  deps: BatchDeps,
  batch: Batch,
  rows: ResultRow[],
  resultsKey: string,
): BatchCompletedEvent {
  const counts = emptyTallies();
  let cost = 0;
  for (const row of rows) {
    if (row.status !== 'invalid') counts[row.status] += 1;
    cost += row.cost ?? 0;
  }
  return {
    event_id: `${batch.id}:completed`,
    type: 'edit.batch.completed',
    status: 'completed',
    occurred_at: iso(deps.clock.now()),
    batch_id: batch.id,
    owner: batch.owner,
    created_at: batch.createdAt,
    ...(batch.cancelRequestedAt ? { cancel_requested_at: batch.cancelRequestedAt } : {}),
    lines: batch.lines ?? rows.length,
    invalid_lines: batch.invalidLines ?? 0,
    counts,
    cost: roundUsd(cost),
    results: {
      s3_uri: `s3://${deps.config.outputBucket}/${resultsKey}`,
      bucket: deps.config.outputBucket,
      key: resultsKey,
    },
  };
}
