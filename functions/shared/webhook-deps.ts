import { createDynamoDocumentClient, createSqsClient } from '#adapters/aws/base-clients';
import { DynamoJobStore } from '#adapters/aws/dynamo-job-store';
import { SqsJobQueues } from '#adapters/aws/sqs-job-queues';
import { type Config, ConfigError, ENV } from '#contract/config';
import { systemClock } from '#core/clock';
import type { WebhookDeps } from '#core/webhooks/deliver-webhook';
import { WebhookSecretError } from '#core/webhooks/errors';
import { decodeSigningSecrets } from '#core/webhooks/sign';
import { logger, metricSink } from './powertools.ts';
import { secretValue } from './secrets.ts';

/** Builds the webhook function's dependencies from the validated environment, once per container. */
export function createWebhookDeps(config: Config): WebhookDeps {
  if (!config.webhookQueueUrl)
    throw new ConfigError(`${ENV.webhookQueueUrl} is required by the webhook function`);
  const queues = new SqsJobQueues(createSqsClient(), { webhook: config.webhookQueueUrl });
  if (!queues.scheduleWebhook)
    throw new ConfigError(`${ENV.webhookQueueUrl} is required by the webhook function`);
  return {
    config,
    clock: systemClock,
    log: logger,
    metrics: metricSink,
    store: new DynamoJobStore(createDynamoDocumentClient(), config.jobsTable, config.jobRetentionDays),
    queues: { scheduleWebhook: queues.scheduleWebhook },
    signingKeys: webhookSigningKeys(config),
  };
}

/**
 * The webhook signing keys: from Secrets Manager in AWS (the function knows only the ARN;
 * Powertools caches the value for five minutes, so a rotated secret is picked up without a
 * redeploy), or from `WEBHOOK_SIGNING_SECRET` in the local runtime, checked at cold start. The
 * secret holds `whsec_<base64>`, or several separated by spaces while it is rotated (each
 * delivery is then signed with every one). Its value is never logged nor put in an error.
 */
export function webhookSigningKeys(config: Config): () => Promise<Buffer[]> {
  if (config.webhookSigningSecret) {
    const keys = decodeSigningSecrets(config.webhookSigningSecret);
    return async () => keys;
  }
  const secretArn = config.webhookSecretArn;
  if (!secretArn) {
    throw new ConfigError(`set ${ENV.webhookSecretArn} (in AWS) or ${ENV.webhookSigningSecret} (locally)`);
  }
  return async () => {
    const value = await secretValue(secretArn);
    if (typeof value !== 'string') throw new WebhookSecretError('the webhook signing secret is not a string');
    return decodeSigningSecrets(value);
  };
}
