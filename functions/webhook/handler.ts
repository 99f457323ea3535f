import { loadConfig } from '#contract/config';
import { deliverWebhook } from '#core/webhooks/deliver-webhook';
import { WebhookMessageSchema } from '#core/webhooks/webhook-message';
import { makeSqsHandler } from '#shared/handler';
import { createWebhookDeps } from '#shared/webhook-deps';

const deps = createWebhookDeps(loadConfig());

/** SQS webhook queue → one signed delivery attempt of a finished job's completion event. */
export const handler = makeSqsHandler(WebhookMessageSchema, (message, record, { log }) =>
  deliverWebhook({ ...deps, log }, message, record.messageId),
);
