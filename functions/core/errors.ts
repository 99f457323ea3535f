/**
 * How every `code` is spelt, in HTTP answers, job records and events: UPPER_SNAKE_CASE (README:
 * Error codes; a test checks every code the functions raise).
 */
export const ERROR_CODE = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;

/**
 * Every error the pipeline raises on purpose carries a stable `code`. The mapping to HTTP
 * (RFC 9457 problem+json) happens at the edge only (`#core/http/problem`); `expose` says
 * whether `message` is safe to show to a caller (never for 5xx, never with secrets).
 */
export class PipelineError extends Error {
  readonly code: string;
  /** HTTP status the edge answers with when this error reaches it. */
  readonly status: number;
  readonly expose: boolean;
  override readonly name: string = 'PipelineError';

  constructor(
    code: string,
    message: string,
    options: { status?: number; expose?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status ?? 500;
    this.expose = options.expose ?? this.status < 500;
  }
}

/** One invalid field of a request, addressed by its JSON path (`image_urls/2`). */
export interface FieldIssue {
  path: string;
  message: string;
}

/**
 * A dependency is briefly unable to serve (throttled): nothing was recorded or skipped, and the
 * same request may be repeated (503, `Retry-After`). Exposed despite the 5xx: the caller needs to
 * know that retrying is safe.
 */
export class ServiceUnavailableError extends PipelineError {
  override readonly name: string = 'ServiceUnavailableError';
  constructor(message: string, cause?: unknown) {
    super('SERVICE_UNAVAILABLE', message, { status: 503, expose: true, cause });
  }
}

export class ValidationError extends PipelineError {
  override readonly name: string = 'ValidationError';
  readonly issues: FieldIssue[];
  constructor(message: string, issues: FieldIssue[]) {
    super('INVALID_REQUEST', message, { status: 400 });
    this.issues = issues;
  }
}

export class NotFoundError extends PipelineError {
  override readonly name: string = 'NotFoundError';
  constructor(message: string) {
    super('NOT_FOUND', message, { status: 404 });
  }
}

/**
 * The request carries no usable identity (a missing, invalid or expired token, or a verified one
 * that names no subject). Answered `401` with a Bearer challenge, by any route.
 */
export class UnauthorizedError extends PipelineError {
  override readonly name: string = 'UnauthorizedError';
  /** The `WWW-Authenticate` challenge (RFC 6750): no error code when no token was sent at all. */
  readonly challenge: string;
  constructor(message: string, options: { tokenSent?: boolean } = {}) {
    super('UNAUTHORIZED', message, { status: 401 });
    this.challenge = options.tokenSent === false ? 'Bearer' : 'Bearer error="invalid_token"';
  }
}

export class ConflictError extends PipelineError {
  override readonly name: string = 'ConflictError';
  constructor(code: string, message: string, status = 409) {
    super(code, message, { status });
  }
}

/** An `Idempotency-Key` seen before with another body: a client bug, never retried into a second job. */
export class IdempotencyKeyReusedError extends ConflictError {
  override readonly name: string = 'IdempotencyKeyReusedError';
  constructor() {
    super(
      'IDEMPOTENCY_KEY_REUSED',
      'this Idempotency-Key was already used with a different request body',
      422,
    );
  }
}

/** Configuration the function was deployed with is unusable: an operator problem, never shown. */
export { ConfigError } from '#contract/config';
