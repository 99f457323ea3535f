import type { S3Client } from '@aws-sdk/client-s3';
import {
  createDynamoDocumentClient,
  createEventBridgeClient,
  createS3Client,
  createSnsClient,
  createSqsClient,
} from '#core/aws-clients';
import { systemClock } from '#core/clock';
import { type Config, loadConfig } from '#core/config';
import { parseS3Allowlist, resolveImageUrls } from '#core/inputs/s3-inputs';
import type { JobDeps } from '#core/jobs/deps';
import { JobQueues } from '#core/jobs/job-queues';
import { JobStore } from '#core/jobs/job-store';
import { AwsNotifier } from '#core/notify/notifier';
import { RunComfyClient } from '#core/runcomfy/index';
import { WebhookQueue } from '#core/webhooks/webhook-queue';
import { logger, metricSink } from './powertools.ts';
import { runComfyTokenSource } from './runcomfy-token.ts';

/**
 * Builds the job core's dependencies from the validated environment, once per container.
 * The local runtime runs the same handlers, so it builds them the same way.
 */
export function createJobDeps(config: Config = loadConfig()): JobDeps {
  let s3: S3Client | undefined;
  const sqs = createSqsClient();
  return {
    config,
    clock: systemClock,
    log: logger,
    metrics: metricSink,
    store: new JobStore(createDynamoDocumentClient(), config.jobsTable, config.jobRetentionDays),
    queues: new JobQueues(sqs, { poll: config.pollQueueUrl, result: config.resultQueueUrl }),
    webhooks: config.webhookQueueUrl ? new WebhookQueue(sqs, config.webhookQueueUrl) : undefined,
    runComfy: new RunComfyClient({
      baseUrl: config.runComfyBaseUrl,
      token: runComfyTokenSource(config),
      log: logger,
      // Inside the functions' timeouts (submit 29 s, poller 30 s): the client must be able to
      // report "outcome unknown" or "retry later" before Lambda ends the invocation.
      submitTimeoutMs: 20_000,
      getTimeoutMs: 5_000,
      maxGetAttempts: 3,
      maxBackoffMs: 4_000,
    }),
    inputs: {
      policy: parseS3Allowlist(config.inputS3Allowlist),
      resolve: async (imageUrls) => {
        if (!imageUrls.some((url) => url.startsWith('s3://'))) return [...imageUrls];
        s3 ??= createS3Client();
        return resolveImageUrls(imageUrls, s3);
      },
    },
    notifier: new AwsNotifier(createSnsClient(), createEventBridgeClient(), {
      topicArn: config.topicArn,
      eventBusName: config.eventBusName,
    }),
  };
}
