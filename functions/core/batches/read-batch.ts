import { NotFoundError } from '../errors.ts';
import { type Caller, canAccess } from '../jobs/owner.ts';
import type { BatchFiles, BatchStore, JobStore } from '../ports.ts';
import { type Batch, batchFileKey, totalsOf } from './batch.ts';
import { type BatchView, runningJobs, toBatchView } from './batch-view.ts';
import { BATCH_FILE_URL_SECONDS } from './deps.ts';

export interface ReadBatchDeps {
  batches: Pick<BatchStore, 'get' | 'chunkTallies'>;
  store: Pick<JobStore, 'list'>;
  files: Pick<BatchFiles, 'presignGet'>;
  config: { outputBucket: string; outputPrefix: string };
}

/**
 * The batch, if the caller may see it. Another caller's batch answers exactly as an unknown id
 * does, so ids leak nothing about other callers' batches; an admin sees every batch.
 */
export async function findOwnBatch(
  deps: Pick<ReadBatchDeps, 'batches'>,
  caller: Caller,
  id: string,
): Promise<Batch> {
  const batch = await deps.batches.get(id);
  if (!batch || !canAccess(caller, batch)) throw new NotFoundError(`no batch with id ${id}`);
  return batch;
}

/**
 * `GET /batches/{id}`: the batch, its counts per status, and short-lived links to its files. One
 * read of the batch, one of its chunks' counts (up to 100 in one request), one of its owner's
 * running jobs.
 */
export async function describeBatch(deps: ReadBatchDeps, batch: Batch): Promise<BatchView> {
  const invalidLinesKey = batchFileKey(deps.config.outputPrefix, batch.id, 'invalid.jsonl');
  const [chunks, running, resultsUrl, invalidLinesUrl] = await Promise.all([
    deps.batches.chunkTallies(batch),
    runningJobs(deps.store, batch),
    batch.resultsKey ? deps.files.presignGet(batch.resultsKey, BATCH_FILE_URL_SECONDS) : undefined,
    batch.invalidLines ? deps.files.presignGet(invalidLinesKey, BATCH_FILE_URL_SECONDS) : undefined,
  ]);
  return toBatchView(batch, {
    totals: totalsOf(chunks),
    running,
    bucket: deps.config.outputBucket,
    resultsUrl,
    invalidLinesKey,
    invalidLinesUrl,
  });
}
