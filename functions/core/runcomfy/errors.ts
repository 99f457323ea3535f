import { type FieldIssue, PipelineError } from '../errors.ts';

/**
 * What went wrong with a RunComfy call, from the caller's point of view:
 * - `auth`: the token is missing, wrong, revoked, or the request id belongs to another account.
 * - `billing`: the account has no balance left.
 * - `invalid_input`: RunComfy rejected the input or the model id (or the caller passed a malformed request id).
 * - `not_found`: the request id is unknown or its record expired.
 * - `rate_limited`: HTTP 429; see `retryAfterMs`.
 * - `transient`: 5xx, a network failure or a timeout where repeating the call is safe.
 * - `outcome_unknown`: a submit whose fate is unknown (sent, then no usable answer): the job may exist
 *   and be charged, so it must not be submitted again.
 * - `bad_response`: RunComfy answered with something this client cannot read.
 */
export type RunComfyErrorKind =
  | 'auth'
  | 'billing'
  | 'invalid_input'
  | 'not_found'
  | 'rate_limited'
  | 'transient'
  | 'outcome_unknown'
  | 'bad_response';

/** The stable `code` of each kind. */
export const RUNCOMFY_ERROR_CODES = {
  auth: 'RUNCOMFY_AUTH',
  billing: 'RUNCOMFY_BILLING',
  invalid_input: 'RUNCOMFY_INVALID_INPUT',
  not_found: 'RUNCOMFY_NOT_FOUND',
  rate_limited: 'RUNCOMFY_RATE_LIMITED',
  transient: 'RUNCOMFY_TRANSIENT',
  outcome_unknown: 'RUNCOMFY_OUTCOME_UNKNOWN',
  bad_response: 'RUNCOMFY_BAD_RESPONSE',
} as const satisfies Record<RunComfyErrorKind, string>;

export type RunComfyErrorCode = (typeof RUNCOMFY_ERROR_CODES)[RunComfyErrorKind];

/** The four calls of the Model API. */
export type RunComfyOperation = 'submit' | 'status' | 'result' | 'cancel';

/**
 * The HTTP status the edge answers with if this error reaches it. Only input errors are the API
 * caller's to fix; everything else is an upstream problem of ours (hidden behind 502/503).
 */
const EDGE_STATUS: Record<RunComfyErrorKind, number> = {
  auth: 502,
  billing: 502,
  invalid_input: 422,
  not_found: 502,
  rate_limited: 503,
  transient: 503,
  outcome_unknown: 502,
  bad_response: 502,
};

export interface RunComfyErrorDetails {
  kind: RunComfyErrorKind;
  operation: RunComfyOperation;
  /** Whether the caller may repeat the same call later; defaults per kind (see {@link defaultRetryable}). */
  retryable?: boolean;
  httpStatus?: number;
  /** RunComfy's own `error_code` (e.g. 400004), when the body carried one. */
  upstreamCode?: number | string;
  /** How long RunComfy asked us to wait (Retry-After), in milliseconds. */
  retryAfterMs?: number;
  /** Field problems RunComfy reported in `detail` for a rejected input. */
  issues?: FieldIssue[];
  /** The start of the response body, for diagnosis (truncated, token removed). */
  rawSnippet?: string;
  requestId?: string;
  cause?: unknown;
}

/**
 * Repeating a submit after `outcome_unknown` could double-charge; after auth/billing/input/not-found
 * errors it would fail the same way. Rate limits and transient failures pass. A GET that got a
 * response we could not read is safe to repeat (reads cost nothing); a submit or cancel is not
 * repeated on that basis.
 */
export function defaultRetryable(kind: RunComfyErrorKind, operation: RunComfyOperation): boolean {
  if (kind === 'rate_limited' || kind === 'transient') return true;
  if (kind === 'bad_response') return operation === 'status' || operation === 'result';
  return false;
}

/**
 * An error from RunComfy's Model API (or from talking to it), with a stable `code` per `kind`.
 *
 * @example
 * try { await client.status(id); } catch (error) {
 *   if (error instanceof RunComfyError && error.retryable) reschedule(error.retryAfterMs);
 * }
 */
export class RunComfyError extends PipelineError {
  override readonly name = 'RunComfyError';
  override readonly code: RunComfyErrorCode;
  readonly kind: RunComfyErrorKind;
  readonly operation: RunComfyOperation;
  readonly retryable: boolean;
  readonly httpStatus?: number;
  readonly upstreamCode?: number | string;
  readonly retryAfterMs?: number;
  readonly issues?: FieldIssue[];
  rawSnippet?: string;
  readonly requestId?: string;

  constructor(message: string, details: RunComfyErrorDetails) {
    const code = RUNCOMFY_ERROR_CODES[details.kind];
    super(code, message, { status: EDGE_STATUS[details.kind], cause: details.cause });
    this.code = code;
    this.kind = details.kind;
    this.operation = details.operation;
    this.retryable = details.retryable ?? defaultRetryable(details.kind, details.operation);
    if (details.httpStatus !== undefined) this.httpStatus = details.httpStatus;
    if (details.upstreamCode !== undefined) this.upstreamCode = details.upstreamCode;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
    if (details.issues !== undefined) this.issues = details.issues;
    if (details.rawSnippet !== undefined) this.rawSnippet = details.rawSnippet;
    if (details.requestId !== undefined) this.requestId = details.requestId;
  }
}

/** Shorter secrets are not worth redacting and would mangle ordinary words if we tried. */
const MIN_REDACTED_LENGTH = 6;
export const REDACTED = '[REDACTED]';

/** Removes every occurrence of `secret` from `text`. */
export function redact(text: string, secret: string): string {
  if (secret.length < MIN_REDACTED_LENGTH || !text.includes(secret)) return text;
  return text.split(secret).join(REDACTED);
}

/**
 * Strips the token from everything an error carries that could end up in a log line, in case
 * RunComfy (or a proxy) ever echoes the Authorization header back in a body.
 */
export function redactError(error: RunComfyError, secret: string): RunComfyError {
  error.message = redact(error.message, secret);
  if (error.stack !== undefined) error.stack = redact(error.stack, secret);
  if (error.rawSnippet !== undefined) error.rawSnippet = redact(error.rawSnippet, secret);
  for (const issue of error.issues ?? []) issue.message = redact(issue.message, secret);
  return error;
}
