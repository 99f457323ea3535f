import type { Config } from '#contract/config';
import type { OutputStore } from '#core/ports';
import { onFirstUse } from './job-deps.ts';

/**
 * The bucket's outputs for a function that touches them only now and then (the sweeper deletes
 * what a failed collection left): the S3 client is loaded by the first call. A module of its own,
 * like `lazyPresigner()`'s, so that only the sweeper's bundle holds this `import()`.
 */
export function lazyOutputStore(config: Config): OutputStore {
  const store = onFirstUse(async () => (await import('./s3-outputs.ts')).createS3OutputStore(config));
  return {
    copy: async (jobId, urls) => (await store()).copy(jobId, urls),
    deleteJobOutputs: async (jobId, keep) => (await store()).deleteJobOutputs(jobId, keep),
    presignGet: async (output, expiresInSeconds) => (await store()).presignGet(output, expiresInSeconds),
  };
}
