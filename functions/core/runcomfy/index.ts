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
  describeUpstreamError,
  extractOutputUrls,
  REQUEST_ID_PATTERN,
  statusStateOf,
  type UpstreamResult,
  type UpstreamResultState,
  type UpstreamState,
  type UpstreamStatus,
} from './responses.ts';
