import { loadConfig } from '#contract/config';
import { cancelBatchJobs } from '#core/batches/cancel-batch';
import { completeBatch } from '#core/batches/complete-batch';
import { createChunkJobs } from '#core/batches/create-jobs';
import { BatchMessageSchema } from '#core/batches/messages';
import { validateBatch } from '#core/batches/validate-batch';
import { BatchesDisabledError, createBatchDeps } from '#shared/batch-deps';
import { makeSqsHandler } from '#shared/handler';
import { createJobDeps } from '#shared/job-deps';
import { loadRunComfyClient } from '#shared/lazy-runcomfy';

const config = loadConfig();
const deps = createBatchDeps(config, createJobDeps(config, 'batch', { loadRunComfyClient }));

/**
 * SQS batch queue → one step of one batch: validate its manifest and queue its chunks, make one
 * chunk's jobs, cancel its jobs that have not started, or complete it (results manifest and the
 * one completion notification). Every step is idempotent: redeliveries and duplicates are safe.
 */
export const handler = makeSqsHandler(BatchMessageSchema, (message, _record, { log, context }) => {
  if (!deps) throw new BatchesDisabledError();
  const scoped = { ...deps, log };
  const remainingMs = () => context.getRemainingTimeInMillis();
  switch (message.step) {
    case 'validate':
      return validateBatch(scoped, message.batchId);
    case 'create':
      return createChunkJobs(scoped, message, remainingMs);
    case 'cancel':
      return cancelBatchJobs(scoped, message, remainingMs);
    case 'complete':
      return completeBatch(scoped, message.batchId, { remainingMs });
  }
});
