import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AWS_CALLS, EMULATOR_REQUEST_TIMEOUT_MS, S3_TRANSFER_REQUEST_TIMEOUT_MS } from '#contract/budgets';

/*
 * One builder per client, so that each function's bundle carries only the SDK clients it uses
 * (a poller has no S3 client to parse at cold start). Every call is bounded in attempts and time
 * by the contract's budgets (the SDK's own defaults wait forever). The SDK reads
 * `AWS_ENDPOINT_URL` by itself, so the same code reaches AWS in Lambda and moto locally; S3 also
 * needs path-style addressing whenever an endpoint is set, because an emulator on loopback has no
 * virtual-host DNS; and an emulator (one Python process, on a busy laptop) answers far slower
 * than AWS, so its calls get a longer bound (the construct never sets an endpoint).
 */

const emulated = (env: NodeJS.ProcessEnv) => Boolean(env.AWS_ENDPOINT_URL);

const bounded = (requestTimeout: number = AWS_CALLS.requestTimeoutMs, env: NodeJS.ProcessEnv = process.env) =>
  ({
    maxAttempts: AWS_CALLS.maxAttempts,
    requestHandler: {
      connectionTimeout: AWS_CALLS.connectionTimeoutMs,
      requestTimeout: emulated(env) ? Math.max(requestTimeout, EMULATOR_REQUEST_TIMEOUT_MS) : requestTimeout,
      throwOnRequestTimeout: true,
    },
  }) as const;

export function createDynamoDocumentClient(): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient(bounded()), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

export function createSqsClient(): SQSClient {
  return new SQSClient(bounded());
}

/** For transfers of output images (megabytes per request): a longer per-request bound. */
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

export function createSnsClient(): SNSClient {
  return new SNSClient(bounded());
}

export function createEventBridgeClient(): EventBridgeClient {
  return new EventBridgeClient(bounded());
}
