import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import {
  BlockPublicAccess,
  BucketEncryption,
  type BucketProps,
  type IBucket,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';

/** Server access logs are evidence, kept longer than the outputs they describe. */
export const ACCESS_LOG_RETENTION = Duration.days(365);

const privateTlsOnly = {
  blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
  enforceSSL: true,
  minimumTLSVersion: 1.2,
} satisfies BucketProps;

export interface OutputBucketDefaultsOptions {
  prefix: string;
  retention: Duration;
  uploadPrefix: string;
  uploadRetention: Duration;
  removalPolicy: RemovalPolicy;
  accessLogsBucket: IBucket;
  encryptionKey?: IKey;
  versioned: boolean;
}

/**
 * The bucket the result function copies images into, and clients upload input images to:
 * private, TLS-only, encrypted, access-logged, expiring outputs after the job retention (job
 * reads presign them until then) and uploads after the upload retention.
 */
export function outputBucketDefaults(options: OutputBucketDefaultsOptions): BucketProps {
  const { prefix, retention, versioned } = options;
  return {
    ...privateTlsOnly,
    objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
    ...(options.encryptionKey
      ? { encryption: BucketEncryption.KMS, encryptionKey: options.encryptionKey, bucketKeyEnabled: true }
      : { encryption: BucketEncryption.S3_MANAGED }),
    versioned,
    serverAccessLogsBucket: options.accessLogsBucket,
    serverAccessLogsPrefix: 'output-bucket/',
    lifecycleRules: [
      { id: 'ExpireOutputs', prefix, expiration: retention },
      { id: 'ExpireUploads', prefix: options.uploadPrefix, expiration: options.uploadRetention },
      // A result function that times out mid-upload leaves parts nobody will complete.
      { id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ...(versioned
        ? [{ id: 'ExpireNoncurrentVersions', noncurrentVersionExpiration: Duration.days(1) }]
        : []),
    ],
    removalPolicy: options.removalPolicy,
  };
}

/**
 * The target of the output bucket's server access logs. S3 log delivery cannot write SSE-KMS
 * objects, so this bucket is SSE-S3 whatever key the rest of the pipeline uses. Object ownership
 * is left to CDK: a bucket policy for log delivery under the
 * `@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy` flag (cdk.json sets it), ACLs without it.
 */
export function accessLogsBucketDefaults(removalPolicy: RemovalPolicy): BucketProps {
  return {
    ...privateTlsOnly,
    encryption: BucketEncryption.S3_MANAGED,
    versioned: false,
    lifecycleRules: [{ id: 'ExpireAccessLogs', expiration: ACCESS_LOG_RETENTION }],
    removalPolicy,
  };
}
