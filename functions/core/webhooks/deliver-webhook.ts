import { iso } from '../jobs/job.ts';
import { claimWebhookAttempt, recordWebhookAttempt } from '../jobs/lifecycle.ts';
import { completionEvent } from '../notify/event-builders.ts';
import { redactUrl } from '../outputs/redact-url.ts';
import type { Clock, JobQueues, JobStore, Log, MetricSink } from '../ports.ts';
import { retryDelaySeconds, type WebhookDelivery } from './delivery.ts';
import { type PostResult, type PostWebhook, postWebhook } from './post-webhook.ts';
import { signWebhook } from './sign.ts';
import { webhookUrlProblem } from './url-policy.ts';
import type { WebhookMessage } from './webhook-message.ts';

export interface WebhookDeps {
  config: {
    /** Delays after the 1st, 2nd, … failed attempt of a round; the last one repeats. */
    webhookRetryDelaysSeconds: readonly number[];
    /** A round stops retrying this long after its first attempt, and the delivery is `failed`. */
    webhookRetryWindowSeconds: number;
    allowLoopbackHttp: boolean;
  };
  clock: Clock;
  log: Log;
  metrics: MetricSink;
  store: JobStore;
  queues: Required<Pick<JobQueues, 'scheduleWebhook'>>;
  /** The signing keys (several while the secret is rotated); cached by the caller. */
  signingKeys(): Promise<Buffer[]>;
  /** @default postWebhook */
  post?: PostWebhook;
}

export type WebhookOutcome = 'dropped' | 'delivered' | 'retry_scheduled' | 'failed' | 'superseded';

/**
 * One attempt to deliver a finished job's completion event to its `webhook_url`: claims the
 * attempt with a conditional write (so a duplicate message sends nothing), POSTs the signed
 * event, and records the outcome. A failed attempt queues the next one after a growing delay
 * until the round's retry window is over; then the delivery is `failed` (a resend starts a new
 * round). `webhook-id` is the event's `event_id`, the same on every attempt.
 *
 * A crash after the POST and before the outcome is recorded makes SQS deliver the message
 * again, and the attempt is made once more: receivers drop the duplicate by `webhook-id`.
 */
export async function deliverWebhook(
  deps: WebhookDeps,
  message: WebhookMessage,
  messageId: string,
): Promise<WebhookOutcome> {
  const job = await deps.store.get(message.jobId);
  const delivery = job?.webhook;
  if (!job?.webhookUrl || !delivery) {
    deps.log.warn('webhook message for a job without a webhook delivery; dropped', { jobId: message.jobId });
    return 'dropped';
  }
  const resumesOwnAttempt = delivery.attempts === message.attempt + 1 && delivery.lastMessageId === messageId;
  if (
    delivery.status !== 'pending' ||
    delivery.round !== message.round ||
    (delivery.attempts !== message.attempt && !resumesOwnAttempt)
  ) {
    deps.log.info('stale or duplicate webhook message; dropped', {
      jobId: job.id,
      round: message.round,
      attempt: message.attempt,
      current: { status: delivery.status, round: delivery.round, attempts: delivery.attempts },
    });
    return 'dropped';
  }

  // Before the claim: a secret that cannot be read fails the message without using up an attempt.
  const keys = await deps.signingKeys();
  const nowMs = deps.clock.now();
  const claimedAt = iso(nowMs);
  const claimed = await deps.store.write(
    job.id,
    claimWebhookAttempt(
      {
        ...delivery,
        attempts: message.attempt + 1,
        firstAttemptAt: delivery.firstAttemptAt ?? claimedAt,
        lastAttemptAt: claimedAt,
        lastMessageId: messageId,
      },
      { round: message.round, attempt: message.attempt, messageId },
    ),
  );
  if (!claimed?.webhook) return 'dropped';

  const problem = webhookUrlProblem(job.webhookUrl, deps.config);
  let result: PostResult;
  if (problem) {
    result = { delivered: false, error: `webhook_url ${problem}` };
  } else {
    const event = completionEvent(claimed);
    const body = JSON.stringify(event);
    const headers = signWebhook(keys, { id: event.event_id, timestamp: Math.floor(nowMs / 1000), body });
    result = await (deps.post ?? postWebhook)(job.webhookUrl, body, headers);
  }
  return record(deps, message, messageId, claimed.webhook, result, Boolean(problem));
}

async function record(
  deps: WebhookDeps,
  message: WebhookMessage,
  messageId: string,
  claimed: WebhookDelivery,
  result: PostResult,
  refused: boolean,
): Promise<WebhookOutcome> {
  const nowMs = deps.clock.now();
  const log = { jobId: message.jobId, round: message.round, attempts: claimed.attempts };
  const delay = retryDelaySeconds(message.retry, deps.config.webhookRetryDelaysSeconds);
  const windowEndsMs =
    Date.parse(claimed.firstAttemptAt ?? iso(nowMs)) + deps.config.webhookRetryWindowSeconds * 1000;
  const givesUp = !result.delivered && (refused || nowMs + delay * 1000 > windowEndsMs);
  const outcome: WebhookDelivery = {
    ...claimed,
    status: result.delivered ? 'delivered' : givesUp ? 'failed' : 'pending',
    lastStatusCode: result.statusCode,
    lastError: result.error,
    deliveredAt: result.delivered ? iso(nowMs) : undefined,
  };
  const recorded = await deps.store.write(
    message.jobId,
    recordWebhookAttempt(outcome, { round: message.round, attempt: message.attempt, messageId }),
  );
  if (!recorded) {
    // A resend started another round while this attempt ran: that round carries on.
    deps.log.info('webhook attempt superseded by a resend', log);
    return 'superseded';
  }
  if (result.delivered) {
    deps.log.info('webhook delivered', { ...log, statusCode: result.statusCode });
    deps.metrics.count('WebhooksDelivered');
    return 'delivered';
  }
  const url = redactUrl(recorded.webhookUrl ?? '');
  deps.metrics.count('WebhookAttemptsFailed');
  if (givesUp) {
    deps.log.warn('webhook delivery failed; giving up', { ...log, url, error: result.error });
    deps.metrics.count('WebhooksFailed');
    return 'failed';
  }
  deps.log.warn('webhook attempt failed; retrying', {
    ...log,
    url,
    error: result.error,
    delaySeconds: delay,
  });
  await deps.queues.scheduleWebhook(
    { jobId: message.jobId, round: message.round, attempt: message.attempt + 1, retry: message.retry + 1 },
    delay,
  );
  return 'retry_scheduled';
}
