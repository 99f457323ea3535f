import { type Clock, systemClock } from '../clock.ts';
import type { EditInput } from '../edit-input.ts';
import { type Log, silentLog } from '../log.ts';
import { MODEL_ID } from '../model.ts';
import type { ReadContext } from './error-answers.ts';
import { RunComfyError, type RunComfyOperation, redact, redactError } from './errors.ts';
import {
  backoffDelayMs,
  classifyTransportFailure,
  describeTransportError,
  exchange,
  type RawResponse,
} from './http.ts';
import {
  type CancelOutcome,
  REQUEST_ID_PATTERN,
  readCancelResponse,
  readResultResponse,
  readStatusResponse,
  readSubmitResponse,
  type UpstreamResult,
  type UpstreamStatus,
} from './responses.ts';

export interface RunComfyClientOptions {
  /** Origin of the Model API, e.g. `https://model-api.runcomfy.net` (a trailing `/v1` is tolerated). */
  baseUrl: string;
  /** The API token, resolved for every HTTP attempt (cache it in the caller, e.g. from Secrets Manager). */
  token: () => Promise<string>;
  /** @default MODEL_ID (`blackforestlabs/flux-2/flash/edit`) */
  modelId?: string;
  /** @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  /** Used for backoff sleeps and Retry-After dates. @default systemClock */
  clock?: Clock;
  /** @default silentLog */
  log?: Log;
  /** Jitter source in [0, 1). @default Math.random */
  random?: () => number;
  /** Whole-exchange timeout of the submit POST. @default 30_000 */
  submitTimeoutMs?: number;
  /** Whole-exchange timeout of each status/result/cancel attempt. @default 10_000 */
  getTimeoutMs?: number;
  /** Attempts per status/result call, the first included. @default 4 */
  maxGetAttempts?: number;
  /** Ceiling of one backoff sleep; a longer Retry-After is handed to the caller instead. @default 8_000 */
  maxBackoffMs?: number;
  /** First backoff ceiling, doubled per retry (full jitter). @default 250 */
  baseBackoffMs?: number;
  /** Attempts per cancel call, the first included. @default 2 */
  maxCancelAttempts?: number;
  /** Ask the result endpoint for the charged `cost` (`?include_cost=true`). @default true */
  includeCost?: boolean;
}

const DEFAULTS = {
  submitTimeoutMs: 30_000,
  getTimeoutMs: 10_000,
  maxGetAttempts: 4,
  maxBackoffMs: 8_000,
  baseBackoffMs: 250,
  maxCancelAttempts: 2,
};

/** Cancel is retried on these answers only: throttling and gateway/availability blips. */
const CANCEL_RETRY_STATUSES = new Set([429, 502, 503, 504]);

/**
 * Client for RunComfy's Model API queue (`submit` → `status` → `result`, and `cancel`).
 *
 * - `submit` is never retried here: the API has no idempotency key, so a second POST is a second
 *   charged job. A failure before the connection was made is `transient` (safe to repeat); a
 *   timeout or broken connection after sending is `outcome_unknown` (do not repeat).
 * - `status` and `result` are reads: retried on 429, 5xx, network errors and timeouts with full
 *   jitter backoff, honouring Retry-After up to `maxBackoffMs` (beyond it the `rate_limited`
 *   error carries `retryAfterMs` so a queue-driven caller can reschedule instead of sleeping).
 * - `cancel` is retried on 429/502/503/504 and on network errors: cancelling twice is a no-op
 *   (a cancelled request answers `cancelled` again, a started one `not_cancellable`) and costs
 *   nothing, and a cancel that silently failed would leave a paid job queued.
 *
 * Every failure is a {@link RunComfyError}; the token never appears in its message.
 *
 * @example
 * const client = new RunComfyClient({ baseUrl: 'https://model-api.runcomfy.net', token: async () => token });
 * const { requestId } = await client.submit(input);
 * const status = await client.status(requestId);
 * if (status.state === 'finished') {
 *   const result = await client.result(requestId);
 *   if (result.state === 'succeeded') await copy(result.outputUrls);
 * }
 */
export class RunComfyClient {
  readonly #origin: string;
  readonly #modelPath: string;
  readonly #token: () => Promise<string>;
  readonly #fetch: typeof globalThis.fetch;
  readonly #clock: Clock;
  readonly #log: Log;
  readonly #random: () => number;
  readonly #settings: typeof DEFAULTS;
  readonly #includeCost: boolean;

  constructor(options: RunComfyClientOptions) {
    this.#origin = normalizeBaseUrl(options.baseUrl);
    this.#modelPath = (options.modelId ?? MODEL_ID)
      .split('/')
      .filter((segment) => segment !== '')
      .map(encodeURIComponent)
      .join('/');
    if (this.#modelPath === '') throw new TypeError('RunComfyClient: modelId must not be empty');
    this.#token = options.token;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log ?? silentLog;
    this.#random = options.random ?? Math.random;
    this.#includeCost = options.includeCost ?? true;
    this.#settings = {
      submitTimeoutMs: positiveInt(options.submitTimeoutMs, DEFAULTS.submitTimeoutMs, 'submitTimeoutMs'),
      getTimeoutMs: positiveInt(options.getTimeoutMs, DEFAULTS.getTimeoutMs, 'getTimeoutMs'),
      maxGetAttempts: positiveInt(options.maxGetAttempts, DEFAULTS.maxGetAttempts, 'maxGetAttempts'),
      maxBackoffMs: positiveInt(options.maxBackoffMs, DEFAULTS.maxBackoffMs, 'maxBackoffMs'),
      baseBackoffMs: positiveInt(options.baseBackoffMs, DEFAULTS.baseBackoffMs, 'baseBackoffMs'),
      maxCancelAttempts: positiveInt(
        options.maxCancelAttempts,
        DEFAULTS.maxCancelAttempts,
        'maxCancelAttempts',
      ),
    };
  }

  /** Submits one edit. Exactly one POST, whatever happens (see the class notes). */
  async submit(input: EditInput): Promise<{ requestId: string }> {
    const ctx = this.#context('submit');
    const token = await this.#resolveToken(ctx);
    try {
      const raw = await this.#send(ctx, `${this.#origin}/v1/models/${this.#modelPath}`, token, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(input),
      });
      const accepted = readSubmitResponse(ctx, raw);
      this.#log.debug('RunComfy accepted the request', { requestId: accepted.requestId });
      return accepted;
    } catch (error) {
      throw this.#scrub(error, token);
    }
  }

  /** The queue state of a request; `finished` means read {@link result} next. */
  async status(requestId: string): Promise<UpstreamStatus> {
    const url = `${this.#requestUrl('status', requestId)}/status`;
    const ctx = this.#context('status', requestId);
    return this.#withRetries(ctx, this.#settings.maxGetAttempts, isRetriedRead, (token) =>
      this.#send(ctx, url, token, { method: 'GET' }).then((raw) => readStatusResponse(ctx, raw)),
    );
  }

  /** The outcome of a request (or its current queue state, if it has not finished). */
  async result(requestId: string): Promise<UpstreamResult> {
    const query = this.#includeCost ? '?include_cost=true' : '';
    const url = `${this.#requestUrl('result', requestId)}/result${query}`;
    const ctx = this.#context('result', requestId);
    return this.#withRetries(ctx, this.#settings.maxGetAttempts, isRetriedRead, (token) =>
      this.#send(ctx, url, token, { method: 'GET' }).then((raw) => readResultResponse(ctx, raw)),
    );
  }

  /** Asks RunComfy to drop a queued request; only queued requests can be cancelled. */
  async cancel(requestId: string): Promise<CancelOutcome> {
    const url = `${this.#requestUrl('cancel', requestId)}/cancel`;
    const ctx = this.#context('cancel', requestId);
    return this.#withRetries(ctx, this.#settings.maxCancelAttempts, isRetriedCancel, (token) =>
      this.#send(ctx, url, token, { method: 'POST' }).then((raw) => readCancelResponse(ctx, raw)),
    );
  }

  #context(operation: RunComfyOperation, requestId?: string): ReadContext {
    const ctx: ReadContext = { operation, nowMs: this.#clock.now(), log: this.#log };
    if (requestId !== undefined) ctx.requestId = requestId;
    return ctx;
  }

  #requestUrl(operation: RunComfyOperation, requestId: string): string {
    if (typeof requestId !== 'string' || !REQUEST_ID_PATTERN.test(requestId)) {
      // The string is not an id, so it stays out of the message (it could be anything).
      throw new RunComfyError(`RunComfy ${operation}: malformed request id`, {
        kind: 'invalid_input',
        operation,
      });
    }
    // The pattern already excludes anything URL-special; encoding keeps that true if it ever widens.
    return `${this.#origin}/v1/requests/${encodeURIComponent(requestId)}`;
  }

  async #resolveToken(ctx: ReadContext): Promise<string> {
    const token = (await this.#token()).trim();
    // A control character or space would make fetch throw a TypeError quoting the header value.
    if (token === '' || /[\s\p{Cc}]/u.test(token)) {
      throw new RunComfyError(`RunComfy ${ctx.operation}: the API token is empty or malformed`, {
        kind: 'auth',
        operation: ctx.operation,
      });
    }
    return token;
  }

  /** One exchange; transport failures become RunComfyErrors placed by whether the request left. */
  async #send(ctx: ReadContext, url: string, token: string, init: RequestInit): Promise<RawResponse> {
    const timeoutMs =
      ctx.operation === 'submit' ? this.#settings.submitTimeoutMs : this.#settings.getTimeoutMs;
    const headers = {
      ...(init.headers as Record<string, string>),
      Accept: 'application/json',
      Authorization: `Bearer ${token}`,
    };
    ctx.nowMs = this.#clock.now();
    try {
      return await exchange(this.#fetch, url, { ...init, headers }, timeoutMs);
    } catch (error) {
      throw this.#transportError(ctx, error, timeoutMs);
    }
  }

  #transportError(ctx: ReadContext, error: unknown, timeoutMs: number): RunComfyError {
    const failure = classifyTransportFailure(error);
    const notSent = failure === 'not_sent';
    // Only a submit can be ambiguous in a way that matters: a repeated read or cancel is harmless.
    const kind = ctx.operation === 'submit' && !notSent ? 'outcome_unknown' : 'transient';
    const what =
      failure === 'timeout'
        ? `no complete answer within ${timeoutMs} ms`
        : notSent
          ? `could not connect: ${describeTransportError(error)}`
          : `connection failed: ${describeTransportError(error)}`;
    const subject =
      ctx.requestId === undefined
        ? `RunComfy ${ctx.operation}`
        : `RunComfy ${ctx.operation} ${ctx.requestId}`;
    const consequence =
      kind === 'outcome_unknown' ? ' (the request may have been accepted; not retried)' : '';
    return new RunComfyError(`${subject}: ${what}${consequence}`, {
      kind,
      operation: ctx.operation,
      requestId: ctx.requestId,
      cause: error,
    });
  }

  /**
   * Runs `attempt` until it succeeds, fails in a way `shouldRetry` rejects, or runs out of
   * attempts. Sleeps Retry-After when given (the server knows best), full-jitter backoff otherwise;
   * a Retry-After beyond `maxBackoffMs` is not slept at all but thrown to the caller.
   */
  async #withRetries<T>(
    ctx: ReadContext,
    maxAttempts: number,
    shouldRetry: (error: RunComfyError) => boolean,
    attempt: (token: string) => Promise<T>,
  ): Promise<T> {
    for (let attemptNumber = 1; ; attemptNumber++) {
      let token = '';
      try {
        token = await this.#resolveToken(ctx);
        return await attempt(token);
      } catch (caught) {
        const error = this.#scrub(caught, token);
        if (!(error instanceof RunComfyError) || !shouldRetry(error) || attemptNumber >= maxAttempts)
          throw error;
        const retryAfterMs = error.retryAfterMs;
        if (retryAfterMs !== undefined && retryAfterMs > this.#settings.maxBackoffMs) throw error;
        const delayMs =
          retryAfterMs ??
          backoffDelayMs(attemptNumber - 1, {
            baseMs: this.#settings.baseBackoffMs,
            maxMs: this.#settings.maxBackoffMs,
            random: this.#random,
          });
        this.#log.debug('Retrying RunComfy call', {
          operation: ctx.operation,
          requestId: ctx.requestId,
          attempt: attemptNumber,
          code: error.code,
          httpStatus: error.httpStatus,
          delayMs,
        });
        await this.#clock.sleep(delayMs);
      }
    }
  }

  #scrub(error: unknown, token: string): unknown {
    if (error instanceof RunComfyError) return redactError(error, token);
    if (error instanceof Error && token !== '') {
      error.message = redact(error.message, token);
      if (error.stack !== undefined) error.stack = redact(error.stack, token);
    }
    return error;
  }
}

function isRetriedRead(error: RunComfyError): boolean {
  return error.kind === 'rate_limited' || error.kind === 'transient';
}

function isRetriedCancel(error: RunComfyError): boolean {
  if (error.kind === 'rate_limited') return true;
  if (error.kind !== 'transient') return false;
  // A transport failure (no status) or a gateway/availability answer; a plain 500 is not retried.
  return error.httpStatus === undefined || CANCEL_RETRY_STATUSES.has(error.httpStatus);
}

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1)
    throw new TypeError(`RunComfyClient: ${name} must be a positive integer`);
  return value;
}

/** `https://host/` and `https://host/v1` both become `https://host`; anything but http(s) is refused. */
function normalizeBaseUrl(baseUrl: string): string {
  if (!URL.canParse(baseUrl)) throw new TypeError('RunComfyClient: baseUrl is not a URL');
  const url = new URL(baseUrl);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TypeError('RunComfyClient: baseUrl must be http(s)');
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new TypeError('RunComfyClient: baseUrl must not carry a query, fragment or credentials');
  }
  const path = url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  return `${url.origin}${path}`;
}
