/** A misuse of the simulator itself (bad knob, bad script, illegal forced transition). */
export class SimulatorError extends Error {
  override readonly name = 'SimulatorError';
  readonly code: string;
  /** HTTP status the admin API answers with. */
  readonly status: number;
  constructor(code: string, message: string, status = 400) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** RunComfy's documented error names by code (reference §2 Q2 and §3.6). */
export const ERROR_NAMES: Record<number, string> = {
  400001: 'InvalidResourceIdentifier',
  400002: 'InsufficientResources',
  400004: 'UserAccountError',
  403001: 'PermissionDeniedError',
  404001: 'ResourceNotFound',
  405001: 'MethodNotAllowed',
  413001: 'PayloadTooLarge',
  422001: 'ValidationError',
  429001: 'RateLimitExceeded',
  500001: 'InternalServerError',
};

/** An error the simulated API answers with, in RunComfy's wire model (§3.6). */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly errorCode: number;
  readonly httpStatus: number;
  readonly detail: unknown;
  /** Injected faults (429/5xx) are not "API 4xx" errors, so `http200_error_quirk` leaves them alone. */
  readonly injected: boolean;
  readonly headers: Record<string, string>;

  constructor(
    errorCode: number,
    message: string,
    options: {
      httpStatus?: number;
      detail?: unknown;
      injected?: boolean;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(message);
    this.errorCode = errorCode;
    // The first three digits of the code are the HTTP status unless a knob says otherwise (§3.6).
    this.httpStatus = options.httpStatus ?? Math.floor(errorCode / 1000);
    this.detail = options.detail;
    this.injected = options.injected ?? false;
    this.headers = options.headers ?? {};
  }
}

/** The HTTP status and JSON body an {@link ApiError} is sent as, following the style knobs. */
export function renderApiError(
  error: ApiError,
  // The two style knobs (see knobs.ts), spelled out so that this module does not import it.
  knobs: { error_body_style: 'default' | 'community_mock' | 'message_only'; http200_error_quirk: boolean },
): { status: number; body: Record<string, unknown> } {
  const name = ERROR_NAMES[error.errorCode] ?? 'Error';
  let body: Record<string, unknown>;
  switch (knobs.error_body_style) {
    case 'community_mock':
      body = { code: error.errorCode, error: name };
      break;
    case 'message_only':
      body = { message: error.message };
      break;
    default:
      body = { error_code: error.errorCode, error: name, error_message: error.message };
      if (error.detail !== undefined) body.detail = error.detail;
  }
  const quirk = knobs.http200_error_quirk && !error.injected && error.httpStatus < 500;
  return { status: quirk ? 200 : error.httpStatus, body };
}
