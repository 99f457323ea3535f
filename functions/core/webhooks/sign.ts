import { createHmac, randomBytes } from 'node:crypto';
import { WebhookSecretError } from './errors.ts';

/**
 * Webhook signing the Standard Webhooks way (https://www.standardwebhooks.com): the signature is
 * an HMAC-SHA256 of `${webhook-id}.${webhook-timestamp}.${body}`, keyed with the base64-decoded
 * part of a `whsec_<base64>` secret, sent as `webhook-signature: v1,<base64>`. Receivers can check
 * it with any of that specification's libraries, or with `verifyWebhook` from `./verify.ts`.
 */

export const SECRET_PREFIX = 'whsec_';

/** The specification's bounds on the key: at least 192 bits, at most 512. */
const MIN_KEY_BYTES = 24;
const MAX_KEY_BYTES = 64;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export interface WebhookHeaders {
  'webhook-id': string;
  /** Unix seconds. */
  'webhook-timestamp': string;
  /** One `v1,<base64>` per signing key, space-separated. */
  'webhook-signature': string;
}

/**
 * The HMAC key of a `whsec_<base64>` secret (the prefix may be left off). Throws a
 * {@link WebhookSecretError} that never contains the secret.
 */
export function decodeSigningSecret(secret: string): Buffer {
  const trimmed = secret.trim();
  const encoded = trimmed.startsWith(SECRET_PREFIX) ? trimmed.slice(SECRET_PREFIX.length) : trimmed;
  if (!BASE64.test(encoded) || encoded.length % 4 !== 0) {
    throw new WebhookSecretError('the webhook signing secret is not `whsec_` followed by base64');
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length < MIN_KEY_BYTES || key.length > MAX_KEY_BYTES) {
    throw new WebhookSecretError(
      `the webhook signing secret must decode to ${MIN_KEY_BYTES}–${MAX_KEY_BYTES} bytes, not ${key.length}`,
    );
  }
  return key;
}

/**
 * The keys of a stored secret value: one secret, or several separated by whitespace while a
 * secret is rotated (every delivery then carries one signature per key, so receivers holding
 * either secret accept it).
 */
export function decodeSigningSecrets(value: string): Buffer[] {
  const secrets = value.split(/\s+/).filter(Boolean);
  if (secrets.length === 0) throw new WebhookSecretError('the webhook signing secret is empty');
  return secrets.map(decodeSigningSecret);
}

/** `v1,<base64 HMAC-SHA256 of "${id}.${timestamp}.${body}">` */
export function webhookSignature(
  key: Buffer,
  id: string,
  timestamp: number,
  body: string | Uint8Array,
): string {
  const hmac = createHmac('sha256', key).update(`${id}.${timestamp}.`);
  hmac.update(body);
  return `v1,${hmac.digest('base64')}`;
}

/**
 * The three headers of a signed delivery. `id` must be stable across retries of one message
 * (receivers drop duplicates by it); the timestamp is the time of this attempt.
 *
 * @example
 * const headers = signWebhook([decodeSigningSecret(secret)], { id: event.event_id, timestamp: 1_700_000_000, body });
 * await fetch(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body });
 */
export function signWebhook(
  keys: readonly Buffer[],
  message: { id: string; timestamp: number; body: string | Uint8Array },
): WebhookHeaders {
  if (keys.length === 0) throw new WebhookSecretError('no webhook signing key');
  if (!Number.isSafeInteger(message.timestamp) || message.timestamp < 0) {
    throw new RangeError('the webhook timestamp must be whole unix seconds');
  }
  return {
    'webhook-id': message.id,
    'webhook-timestamp': String(message.timestamp),
    'webhook-signature': keys
      .map((key) => webhookSignature(key, message.id, message.timestamp, message.body))
      .join(' '),
  };
}

/** A fresh random secret in the `whsec_<base64>` form (32 bytes). */
export function generateSigningSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}
