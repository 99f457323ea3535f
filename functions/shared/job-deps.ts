import {
  createDynamoDocumentClient,
  createEventBridgeClient,
  createSnsClient,
  createSqsClient,
} from '#core/aws-clients';
import { systemClock } from '#core/clock';
import { type Config, loadConfig } from '#core/config';
import type { JobDeps } from '#core/jobs/deps';
import { JobQueues } from '#core/jobs/job-queues';
import { JobStore } from '#core/jobs/job-store';
import { AwsNotifier } from '#core/notify/notifier';
import { RunComfyClient } from '#core/runcomfy/index';
import { logger, metricSink } from './powertools.ts';
import { runComfyTokenSource } from './runcomfy-token.ts';

/**
 * Builds the job core's dependencies from the validated environment, once per container.
 * The local runtime runs the same handlers, so it builds them the same way.
 */
export function createJobDeps(config: Config = loadConfig()): JobDeps {
  return {
    config,
    clock: systemClock,
    log: logger,
    metrics: metricSink,
    store: new JobStore(createDynamoDocumentClient(), config.jobsTable, config.jobRetentionDays),
    queues: new JobQueues(createSqsClient(), { poll: config.pollQueueUrl, result: config.resultQueueUrl }),
    runComfy: new RunComfyClient({
      baseUrl: config.runComfyBaseUrl,
      token: runComfyTokenSource(config),
      log: logger,
    }),
    notifier: new AwsNotifier(createSnsClient(), createEventBridgeClient(), {
      topicArn: config.topicArn,
      eventBusName: config.eventBusName,
    }),
  };
}
