/**
 * RunComfy Model API client: plain core code (no AWS), used by the submit, poller, result and
 * jobs functions. See {@link RunComfyClient}.
 */
export { RunComfyClient, type RunComfyClientOptions } from './client.ts';
export {
  defaultRetryable,
  REDACTED,
  RUNCOMFY_ERROR_CODES,
  RunComfyError,
  type RunComfyErrorCode,
  type RunComfyErrorDetails,
  type RunComfyErrorKind,
  type RunComfyOperation,
  redact,
} from './errors.ts';
export { backoffDelayMs, parseRetryAfterMs } from './http.ts';
export {
  type CancelOutcome,
  REQUEST_ID_PATTERN,
  type UpstreamResult,
  type UpstreamResultState,
  type UpstreamStatus,
} from './responses.ts';
export { statusStateOf, type UpstreamState } from './status-spellings.ts';
export { describeUpstreamError, extractOutputUrls } from './upstream-values.ts';
