import type { Config } from '#contract/config';
import type { OutputStore, Presigner } from '#core/ports';
import { onFirstUse } from './job-deps.ts';
import { logger } from './powertools.ts';

/*
 * The S3 adapters of functions that touch S3 only now and then, each loaded by its first use. A
 * module of its own: its `import()`s are in the bundles of the functions that import it, and in
 * no other (see `JobDepsOptions.presigner`).
 */

/** The presigner, with an S3 client of its own. */
export async function createPresigner(): Promise<Presigner> {
  const [{ S3Presigner }, { createS3Client }] = await Promise.all([
    import('#adapters/aws/s3-presigner'),
    import('#adapters/aws/s3-client'),
  ]);
  return new S3Presigner(createS3Client());
}

/** A presigner made by the first `s3://` input (`JobDepsOptions.presigner`). */
export function lazyPresigner(): () => Promise<Presigner> {
  return onFirstUse(createPresigner);
}

/**
 * The bucket's outputs for a function that touches them only now and then (the sweeper deletes
 * what a failed collection left): the S3 client is loaded by the first call.
 */
export function lazyOutputStore(config: Config): OutputStore {
  const store = onFirstUse(async () => {
    const [{ S3OutputStore }, { S3Presigner }, { createS3Client }] = await Promise.all([
      import('#adapters/aws/s3-output-store'),
      import('#adapters/aws/s3-presigner'),
      import('#adapters/aws/s3-client'),
    ]);
    const s3 = createS3Client();
    return new S3OutputStore(s3, new S3Presigner(s3), {
      bucket: config.outputBucket,
      prefix: config.outputPrefix,
      policy: { allowedHosts: [], maxBytes: 1, allowLoopbackHttp: false },
      log: logger,
    });
  });
  return {
    copy: async (jobId, urls) => (await store()).copy(jobId, urls),
    deleteJobOutputs: async (jobId, keep) => (await store()).deleteJobOutputs(jobId, keep),
    presignGet: async (output, expiresInSeconds) => (await store()).presignGet(output, expiresInSeconds),
  };
}
