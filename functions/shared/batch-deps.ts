import { S3BatchFiles } from '#adapters/aws/s3-batch-files';
import { createS3Client } from '#adapters/aws/s3-client';
import { S3Presigner } from '#adapters/aws/s3-presigner';
import type { Config } from '#contract/config';
import type { BatchDeps } from '#core/batches/deps';
import { PipelineError } from '#core/errors';
import type { JobDeps } from '#core/jobs/deps';
import type { BatchNotifier } from '#core/ports';

export class BatchesDisabledError extends PipelineError {
  override readonly name: string = 'BatchesDisabledError';
  constructor() {
    super('BATCHES_DISABLED', 'batches are not enabled on this deployment', { status: 503, expose: true });
  }
}

/**
 * The batch core's dependencies over a function's job dependencies (`createJobDeps`): its
 * batches' store and queue, their files in the bucket, and its notifier for their completion.
 * `undefined` where the deployment has no batch queue: batches are off.
 */
export function createBatchDeps(config: Config, jobDeps: JobDeps): BatchDeps | undefined {
  const { batches, queues, notifier } = jobDeps;
  const batchNotifier = isBatchNotifier(notifier) ? notifier : undefined;
  if (!batches || !queues.scheduleBatch || !batchNotifier) return undefined;
  const s3 = createS3Client();
  return {
    ...jobDeps,
    config,
    batches,
    queues: queues as BatchDeps['queues'],
    files: new S3BatchFiles(s3, new S3Presigner(s3), config.outputBucket),
    batchNotifier,
  };
}

function isBatchNotifier(notifier: object): notifier is BatchNotifier {
  return typeof (notifier as Partial<BatchNotifier>).batchCompleted === 'function';
}
