import type { BatchView, JobView } from './types.ts';

/** Every error the client raises on purpose: a stable `code` to branch on, a message for people. */
export class FluxEditError extends Error {
  readonly code: string;
  override readonly name: string = 'FluxEditError';

  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** One invalid field of a request, as the API's problem body names it (`image_urls/2`). */
export interface FieldError {
  path: string;
  message: string;
  /** For a batch: the line (1-based) the field is on. */
  line?: number;
}

/**
 * The API answered with an error status. `code`, `detail` and `errors` come from its RFC 9457
 * problem body; an answer without one (a proxy's HTML page, API Gateway's `{"message"}`)
 * still gets a code, `HTTP_<status>`, so callers can always branch on `code`.
 *
 * @example
 * try { await client.cancel(id); } catch (error) {
 *   if (error instanceof FluxEditApiError && error.code === 'NOT_CANCELLABLE') { ... }
 * }
 */
export class FluxEditApiError extends FluxEditError {
  override readonly name: string = 'FluxEditApiError';
  readonly status: number;
  readonly title: string | undefined;
  readonly detail: string | undefined;
  readonly errors: FieldError[];
  /** API Gateway's request id, for support requests. */
  readonly requestId: string | undefined;
  /** How long the API asked the caller to wait before retrying (`Retry-After`). */
  readonly retryAfterMs: number | undefined;

  constructor(input: {
    status: number;
    code: string;
    title?: string;
    detail?: string;
    errors?: FieldError[];
    requestId?: string;
    retryAfterMs?: number;
  }) {
    super(input.code, input.detail ?? input.title ?? `the API answered HTTP ${input.status}`);
    this.status = input.status;
    this.title = input.title;
    this.detail = input.detail;
    this.errors = input.errors ?? [];
    this.requestId = input.requestId;
    this.retryAfterMs = input.retryAfterMs;
  }
}

/** The API could not be reached at all (refused, reset, DNS, timed out). */
export class FluxEditNetworkError extends FluxEditError {
  override readonly name: string = 'FluxEditNetworkError';
  readonly url: string;

  constructor(url: string, cause: unknown) {
    super('NETWORK_ERROR', `could not reach ${url}: ${describeCause(cause)}`, { cause });
    this.url = url;
  }
}

/** The client was set up wrongly: no API URL, no region to sign for, an unusable option. */
export class FluxEditConfigError extends FluxEditError {
  override readonly name: string = 'FluxEditConfigError';
}

/** A local file cannot be uploaded (unreadable, too large, not of a kind the API takes). */
export class InputFileError extends FluxEditError {
  override readonly name: string = 'InputFileError';
}

/** A local file cannot be uploaded as an input image (unknown format, too large, unreadable). */
export class InputImageError extends InputFileError {
  override readonly name: string = 'InputImageError';
}

/** Storage refused the upload or a download of an output failed or was corrupt. */
export class TransferError extends FluxEditError {
  override readonly name: string = 'TransferError';
  readonly status: number | undefined;

  constructor(code: string, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(code, message, options);
    this.status = options.status;
  }
}

/** `waitFor` gave up before the job ended; the job itself carries on. */
export class WaitTimeoutError extends FluxEditError {
  override readonly name: string = 'WaitTimeoutError';
  /** The job as last seen. */
  readonly job: JobView | undefined;

  constructor(jobId: string, timeoutMs: number, job: JobView | undefined) {
    super('WAIT_TIMEOUT', `job ${jobId} did not end within ${Math.round(timeoutMs / 1000)}s`);
    this.job = job;
  }
}

/** `batches.waitFor` gave up before the batch completed; the batch itself carries on. */
export class BatchWaitTimeoutError extends FluxEditError {
  override readonly name: string = 'BatchWaitTimeoutError';
  /** The batch as last seen. */
  readonly batch: BatchView | undefined;

  constructor(batchId: string, timeoutMs: number, batch: BatchView | undefined) {
    super('WAIT_TIMEOUT', `batch ${batchId} did not complete within ${Math.round(timeoutMs / 1000)}s`);
    this.batch = batch;
  }
}

/**
 * Builds the error for a non-2xx API answer. Reads the body as a problem document when it is
 * JSON; otherwise keeps a short prefix of it as the detail (never a whole HTML page).
 */
export async function apiErrorFrom(response: Response): Promise<FluxEditApiError> {
  const text = await response.text().catch(() => '');
  const requestId =
    response.headers.get('apigw-requestid') ?? response.headers.get('x-amzn-requestid') ?? undefined;
  const retryAfterMs = retryAfterOf(response);
  const body = parseJsonObject(text);
  if (!body) {
    const snippet = text.trim().replace(/\s+/g, ' ').slice(0, 200);
    return new FluxEditApiError({
      status: response.status,
      code: `HTTP_${response.status}`,
      detail: snippet || response.statusText || undefined,
      requestId,
      retryAfterMs,
    });
  }
  return new FluxEditApiError({
    status: response.status,
    // API Gateway's own 401 (`{"message":"Unauthorized"}`) gets the code the local runtime's has.
    code: stringOf(body.code) ?? (response.status === 401 ? 'UNAUTHORIZED' : `HTTP_${response.status}`),
    title: stringOf(body.title),
    // API Gateway's own answers (auth failures, throttling) are `{"message": "..."}`.
    detail: stringOf(body.detail) ?? stringOf(body.message) ?? stringOf(body.title),
    errors: fieldErrorsOf(body.errors),
    requestId,
    retryAfterMs,
  });
}

/** Retry-After in seconds (API Gateway and S3 send seconds, never an HTTP date). */
function retryAfterOf(response: Response): number | undefined {
  const value = response.headers.get('retry-after');
  const seconds = value === null ? Number.NaN : Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

const stringOf = (value: unknown) => (typeof value === 'string' && value.length > 0 ? value : undefined);

function fieldErrorsOf(value: unknown): FieldError[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item) => {
    if (typeof item !== 'object' || item === null) return [];
    const { path, message, line } = item as Record<string, unknown>;
    if (typeof message !== 'string') return [];
    return [
      {
        path: typeof path === 'string' ? path : '(root)',
        message,
        ...(typeof line === 'number' ? { line } : {}),
      },
    ];
  });
}

/** `fetch failed` says nothing; its cause (`ECONNREFUSED 127.0.0.1:3000`) does. */
function describeCause(cause: unknown): string {
  let current: unknown = cause;
  for (let depth = 0; depth < 3 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string')
      return current.message.includes(code) ? current.message : `${code} ${current.message}`;
    if (current.name === 'TimeoutError') return 'the request timed out';
    if (!(current.cause instanceof Error)) return current.message;
    current = current.cause;
  }
  return String(cause);
}
