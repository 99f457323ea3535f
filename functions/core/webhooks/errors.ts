import { PipelineError } from '../errors.ts';

/**
 * Why a received webhook was refused. Receivers answer 4xx for all of them; the code says
 * which check failed, so that a log line tells a clock skew from a wrong secret.
 * - MISSING_HEADERS: `webhook-id`, `webhook-timestamp` or `webhook-signature` is absent.
 * - INVALID_TIMESTAMP: `webhook-timestamp` is not unix seconds.
 * - TIMESTAMP_TOO_OLD / TIMESTAMP_TOO_NEW: outside the tolerance window (a replay, or a bad clock).
 * - INVALID_SECRET: the receiver's secret is not `whsec_<base64>` (a configuration error).
 * - NO_MATCHING_SIGNATURE: no `v1` signature matches the body under the secret.
 * - INVALID_PAYLOAD: the signature matches but the body is not JSON.
 */
export type WebhookVerificationCode =
  | 'MISSING_HEADERS'
  | 'INVALID_TIMESTAMP'
  | 'TIMESTAMP_TOO_OLD'
  | 'TIMESTAMP_TOO_NEW'
  | 'INVALID_SECRET'
  | 'NO_MATCHING_SIGNATURE'
  | 'INVALID_PAYLOAD';

export class WebhookVerificationError extends PipelineError {
  override readonly name: string = 'WebhookVerificationError';
  declare readonly code: WebhookVerificationCode;
  constructor(code: WebhookVerificationCode, message: string) {
    super(code, message, {
      status: code === 'INVALID_SECRET' ? 500 : 401,
      expose: code !== 'INVALID_SECRET',
    });
  }
}

/** The signing secret is unusable. Its value is never part of the message. */
export class WebhookSecretError extends PipelineError {
  override readonly name: string = 'WebhookSecretError';
  constructor(message: string) {
    super('WEBHOOK_SECRET_INVALID', message, { status: 500, expose: false });
  }
}
