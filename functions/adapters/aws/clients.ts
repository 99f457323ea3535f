/*
 * One builder per client, each SDK client in a module of its own: DynamoDB and SQS (every
 * function's common path) in base-clients.ts, S3 in s3-client.ts, SNS and EventBridge in
 * notify-clients.ts. A function imports the modules it needs directly, and those it needs only
 * now and then with `import()`: the Lambda bundles are split at those imports, so such a client
 * is not even read at cold start (see job-deps.ts). This module gathers them all for the local
 * runtime, tests and benchmarks; the functions never import it, or every client would load at
 * their cold start. Every call is bounded in attempts and time by the contract's budgets
 * (client-bounds.ts). The SDK reads `AWS_ENDPOINT_URL` by itself, so the same code reaches AWS in
 * Lambda and moto locally.
 */

export { createDynamoDocumentClient, createSqsClient } from './base-clients.ts';
export { createEventBridgeClient, createSnsClient } from './notify-clients.ts';
export { createS3Client } from './s3-client.ts';
