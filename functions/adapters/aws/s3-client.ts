import { S3Client } from '@aws-sdk/client-s3';
import { S3_TRANSFER_REQUEST_TIMEOUT_MS } from '#contract/budgets';
import { bounded } from './client-bounds.ts';

/**
 * For transfers of output images (megabytes per request): a longer per-request bound. S3 also
 * needs path-style addressing whenever an endpoint is set, because an emulator on loopback has no
 * virtual-host DNS.
 */
export function createS3Client(env: NodeJS.ProcessEnv = process.env): S3Client {
  const endpointSet = Boolean(env.AWS_ENDPOINT_URL || env.AWS_ENDPOINT_URL_S3);
  return new S3Client({
    ...bounded(S3_TRANSFER_REQUEST_TIMEOUT_MS, env),
    forcePathStyle: endpointSet,
    // Otherwise a presigned PUT carries `x-amz-checksum-crc32` of an empty body, which S3 checks
    // against the uploaded file and refuses. Uploads that want a checksum set it explicitly.
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
}
