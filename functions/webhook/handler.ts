import { deliverWebhook } from '#core/webhooks/deliver-webhook';
import { WebhookMessageSchema } from '#core/webhooks/webhook-queue';
import { sqsBatchHandler } from '#shared/sqs-batch';
import { createWebhookDeps } from '#shared/webhook-deps';

const deps = createWebhookDeps();

/** SQS webhook queue → one signed delivery attempt of a finished job's completion event. */
export const handler = sqsBatchHandler(WebhookMessageSchema, (message, record, log) =>
  deliverWebhook({ ...deps, log }, message, record.messageId),
);
