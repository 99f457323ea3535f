import { DEFAULTS } from '#contract/config';

/**
 * A job's webhook delivery, as recorded on the job. Every change is a conditional write keyed on
 * `round` and `attempts`, so a duplicate or stale queue message can neither send twice in one
 * step nor overwrite a newer outcome.
 */
export interface WebhookDelivery {
  status: 'pending' | 'delivered' | 'failed';
  /** Attempts ever made for this job, across resends. */
  attempts: number;
  /** The current round: the first delivery is round 1; each resend starts the next round. */
  round: number;
  /** First attempt of the current round: its retries stop a retry window after it. */
  firstAttemptAt?: string;
  lastAttemptAt?: string;
  /** HTTP status of the last attempt; absent when it got no response. */
  lastStatusCode?: number;
  /** Why the last attempt failed: `HTTP 503`, `timed out after 10 s`, `connection failed (ECONNREFUSED)`. */
  lastError?: string;
  deliveredAt?: string;
  /** The queue message that claimed the last attempt: its redelivery may resume that attempt. */
  lastMessageId?: string;
}

/** The delivery as callers see it on the job (`webhook` in the HTTP API's job view). */
export interface WebhookView {
  status: WebhookDelivery['status'];
  attempts: number;
  last_attempt_at?: string;
  last_status_code?: number;
  last_error?: string;
  delivered_at?: string;
}

export function toWebhookView(delivery: WebhookDelivery): WebhookView {
  return {
    status: delivery.status,
    attempts: delivery.attempts,
    last_attempt_at: delivery.lastAttemptAt,
    last_status_code: delivery.lastStatusCode,
    last_error: delivery.lastError,
    delivered_at: delivery.deliveredAt,
  };
}

/** Retry delays after the 1st, 2nd, … failed attempt; the last one repeats. */
export const DEFAULT_RETRY_DELAYS_SECONDS = DEFAULTS.webhookRetryDelaysSeconds;

/** How long a round keeps retrying after its first attempt. */
export const DEFAULT_RETRY_WINDOW_SECONDS = DEFAULTS.webhookRetryWindowSeconds;

/**
 * Seconds to wait after the failed attempt number `retry` (0 = the round's first) of a round:
 * the delays in order, then the last one for good. Capped at SQS's 900 s message delay.
 */
export function retryDelaySeconds(retry: number, delays: readonly number[]): number {
  const delay = delays[Math.min(retry, delays.length - 1)] ?? DEFAULT_RETRY_DELAYS_SECONDS[0];
  return Math.min(900, Math.max(0, delay));
}
