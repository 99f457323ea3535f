import { createS3Client } from '#adapters/aws/s3-client';
import { S3OutputStore } from '#adapters/aws/s3-output-store';
import { S3Presigner } from '#adapters/aws/s3-presigner';
import type { Config } from '#contract/config';
import type { OutputStore } from '#core/ports';
import { logger } from './powertools.ts';

/**
 * The bucket's outputs, for deleting and presigning only (no downloads: no host is allowed):
 * what `lazyOutputStore()` imports, in one module.
 */
export function createS3OutputStore(config: Config): OutputStore {
  const s3 = createS3Client();
  return new S3OutputStore(s3, new S3Presigner(s3), {
    bucket: config.outputBucket,
    prefix: config.outputPrefix,
    policy: { allowedHosts: [], maxBytes: 1, allowLoopbackHttp: false },
    log: logger,
  });
}
