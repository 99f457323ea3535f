import { timingSafeEqual } from 'node:crypto';
import { WebhookSecretError, WebhookVerificationError } from './errors.ts';
import { decodeSigningSecret, webhookSignature } from './sign.ts';

export { WebhookVerificationError } from './errors.ts';

export interface VerifyWebhookOptions {
  /** How far `webhook-timestamp` may be from now, either way, in seconds. @default 300 */
  toleranceSeconds?: number;
  /** The receiver's time, in milliseconds since the epoch. @default Date.now() */
  now?: number;
}

export interface VerifiedWebhook {
  /** `webhook-id`: the event's `event_id`; the same on every retry, so drop what you have seen. */
  id: string;
  /** `webhook-timestamp`, unix seconds. */
  timestamp: number;
  /** The parsed JSON body (for this pipeline, the completion event). */
  payload: unknown;
}

/** A fetch `Headers`, or a plain object such as node's `IncomingHttpHeaders`. */
export type WebhookHeaderSource = Headers | Record<string, string | readonly string[] | undefined>;

/**
 * Checks a received webhook the Standard Webhooks way and returns its parsed body, or throws a
 * {@link WebhookVerificationError} whose `code` says which check failed: the timestamp must be
 * within `toleranceSeconds` of now (which bounds replays), and at least one of the
 * space-separated `v1,` signatures must match the raw body under `secret`. Signatures are
 * compared in constant time. Several secrets may be given while a secret is being rotated.
 *
 * Pass the body exactly as received (the raw bytes or string): re-serialised JSON does not match.
 *
 * @example
 * const chunks = [];
 * for await (const chunk of request) chunks.push(chunk);
 * try {
 *   const { id, payload } = verifyWebhook(process.env.FLUX_WEBHOOK_SECRET, request.headers, Buffer.concat(chunks));
 *   // handle payload (once per id), then answer 2xx
 * } catch (error) {
 *   if (error instanceof WebhookVerificationError) response.writeHead(401).end();
 * }
 */
export function verifyWebhook(
  secret: string | readonly string[],
  headers: WebhookHeaderSource,
  rawBody: string | Uint8Array,
  options: VerifyWebhookOptions = {},
): VerifiedWebhook {
  const { toleranceSeconds = 300, now = Date.now() } = options;
  const id = headerOf(headers, 'webhook-id');
  const timestampHeader = headerOf(headers, 'webhook-timestamp');
  const signatureHeader = headerOf(headers, 'webhook-signature');
  if (!id || !timestampHeader || !signatureHeader) {
    throw new WebhookVerificationError(
      'MISSING_HEADERS',
      'webhook-id, webhook-timestamp and webhook-signature are required',
    );
  }
  if (!/^\d{1,15}$/.test(timestampHeader)) {
    throw new WebhookVerificationError('INVALID_TIMESTAMP', 'webhook-timestamp is not unix seconds');
  }
  const timestamp = Number(timestampHeader);
  const nowSeconds = Math.floor(now / 1000);
  if (timestamp < nowSeconds - toleranceSeconds) {
    throw new WebhookVerificationError('TIMESTAMP_TOO_OLD', 'webhook-timestamp is too old');
  }
  if (timestamp > nowSeconds + toleranceSeconds) {
    throw new WebhookVerificationError('TIMESTAMP_TOO_NEW', 'webhook-timestamp is in the future');
  }

  const keys = decodeKeys(secret);
  const expected = keys.map((key) => signatureBytes(webhookSignature(key, id, timestamp, rawBody)));
  const received = signatureHeader
    .split(' ')
    .filter((entry) => entry.startsWith('v1,'))
    .map(signatureBytes);
  // Every pair is compared, so the time taken does not tell which signature or key matched.
  let matched = false;
  for (const candidate of received) {
    for (const wanted of expected) {
      if (candidate.length === wanted.length && timingSafeEqual(candidate, wanted)) matched = true;
    }
  }
  if (!matched) {
    throw new WebhookVerificationError('NO_MATCHING_SIGNATURE', 'no webhook signature matches the body');
  }

  const text = typeof rawBody === 'string' ? rawBody : Buffer.from(rawBody).toString('utf8');
  try {
    return { id, timestamp, payload: JSON.parse(text) };
  } catch {
    throw new WebhookVerificationError('INVALID_PAYLOAD', 'the webhook body is not JSON');
  }
}

function decodeKeys(secret: string | readonly string[]): Buffer[] {
  const secrets = typeof secret === 'string' ? [secret] : secret;
  try {
    if (secrets.length === 0) throw new WebhookSecretError('no secret');
    return secrets.map(decodeSigningSecret);
  } catch (error) {
    if (!(error instanceof WebhookSecretError)) throw error;
    throw new WebhookVerificationError('INVALID_SECRET', 'the webhook secret is not `whsec_<base64>`');
  }
}

/** `v1,<base64>` -> the signature's bytes (empty when it is not base64, which matches nothing). */
function signatureBytes(entry: string): Buffer {
  return Buffer.from(entry.slice(entry.indexOf(',') + 1), 'base64');
}

function headerOf(headers: WebhookHeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  for (const [key, value] of Object.entries(
    headers as Record<string, string | readonly string[] | undefined>,
  )) {
    if (key.toLowerCase() !== name) continue;
    return typeof value === 'string' ? value : value?.join(' ');
  }
  return undefined;
}
