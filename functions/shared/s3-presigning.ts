import { createS3Client } from '#adapters/aws/s3-client';
import { S3Presigner } from '#adapters/aws/s3-presigner';
import type { Presigner } from '#core/ports';

/** A presigner with an S3 client of its own: what `lazyPresigner()` imports, in one module. */
export function createS3Presigner(): Presigner {
  return new S3Presigner(createS3Client());
}
