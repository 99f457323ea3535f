/**
 * Transport concerns of the RunComfy client: one HTTP exchange with a timeout, what a failed
 * exchange tells us about whether the request reached the server, backoff and Retry-After.
 */

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** A number in [0, 1); `Math.random` in production. */
  random: () => number;
}

/**
 * "Full jitter" exponential backoff: a uniform delay in [0, min(max, base * 2^retry)). Spreads the
 * retries of many pollers instead of having them hit RunComfy in lockstep after a blip.
 *
 * @param retry 0 for the first retry, 1 for the second, ...
 * @example backoffDelayMs(2, { baseMs: 250, maxMs: 8_000, random: () => 0.5 }) // 500
 */
export function backoffDelayMs(retry: number, policy: BackoffPolicy): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, retry));
  const draw = Math.min(Math.max(policy.random(), 0), 1);
  return Math.floor(draw * ceiling);
}

/**
 * Reads a `Retry-After` header: either delay-seconds (`120`) or an HTTP-date
 * (`Wed, 21 Oct 2015 07:28:00 GMT`), relative to `nowMs`. Dates in the past mean "now" (0);
 * anything unreadable means "not given".
 */
export function parseRetryAfterMs(value: string | null | undefined, nowMs: number): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.ceil(Number(text) * 1000);
  // Only the date forms: Date.parse would otherwise accept bare numbers like "-1" or "2026".
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/**
 * Whether a failed exchange could have reached the server:
 * - `not_sent`: the connection was never made (refused, DNS, unreachable, connect timeout, TLS
 *   handshake): nothing was created, so even a POST may be repeated.
 * - `timeout`: our own deadline fired; the server may have acted on the request.
 * - `ambiguous`: reset, socket closed, or anything we cannot place: the server may have acted.
 */
export type TransportFailure = 'not_sent' | 'timeout' | 'ambiguous';

/** Node (undici) error codes raised before a single request byte can have left the machine. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EAI_NONAME',
  'EAI_NODATA',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Places a fetch failure (see {@link TransportFailure}). fetch wraps the socket error as
 * `TypeError('fetch failed', { cause })`, and with happy-eyeballs the cause can be an
 * AggregateError of one error per address; it is `not_sent` only if every code found says so.
 */
export function classifyTransportFailure(error: unknown): TransportFailure {
  if (isNamed(error, 'TimeoutError')) return 'timeout';
  const codes = collectCodes(error, 0);
  if (codes.length > 0 && codes.every((code) => NOT_SENT_CODES.has(code))) return 'not_sent';
  return 'ambiguous';
}

function isNamed(error: unknown, name: string): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === name;
}

function collectCodes(error: unknown, depth: number): string[] {
  if (typeof error !== 'object' || error === null || depth > 5) return [];
  const { code, cause, errors } = error as { code?: unknown; cause?: unknown; errors?: unknown };
  const codes = typeof code === 'string' ? [code] : [];
  codes.push(...collectCodes(cause, depth + 1));
  if (Array.isArray(errors)) for (const inner of errors) codes.push(...collectCodes(inner, depth + 1));
  return codes;
}

/** A short description of a transport failure for messages (never headers, so never the token). */
export function describeTransportError(error: unknown): string {
  const codes = collectCodes(error, 0);
  const message = error instanceof Error ? error.message : String(error);
  return codes.length > 0 ? `${message} (${[...new Set(codes)].join(', ')})` : message;
}

/** What came back: the body is `undefined` when the headers arrived but reading the body failed. */
export interface RawResponse {
  status: number;
  headers: Headers;
  body: string | undefined;
  bodyError?: unknown;
}

/**
 * One HTTP exchange bounded by `timeoutMs` end to end (the signal also covers reading the body).
 * Redirects are not followed: the Model API never redirects, and following one would re-send a
 * POST (and the token) somewhere else. Rejects only when no response headers arrived.
 */
export async function exchange(
  fetchFn: typeof globalThis.fetch,
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<RawResponse> {
  const response = await fetchFn(url, {
    ...init,
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  });
  try {
    return { status: response.status, headers: response.headers, body: await response.text() };
  } catch (bodyError) {
    return { status: response.status, headers: response.headers, body: undefined, bodyError };
  }
}
