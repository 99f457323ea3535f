import { PipelineError } from '../errors.ts';
import { redactUrl } from './redact-url.ts';

/** Why an output could not be copied; stable values the result handler may branch on. */
export type OutputCopyReason =
  | 'host_not_allowed'
  | 'insecure_url'
  | 'too_large'
  | 'not_an_image'
  | 'download_failed'
  | 'upload_failed';

/**
 * An output of a finished job could not be copied into the bucket. `url` never carries a query
 * string or userinfo: RunComfy may hand out presigned URLs, whose query is a credential, and this
 * error ends up in logs and in the job record.
 */
export class OutputCopyError extends PipelineError {
  override readonly name = 'OutputCopyError';
  readonly reason: OutputCopyReason;
  readonly url: string;
  /**
   * Whether trying again later may succeed (a 5xx, a timeout, an S3 hiccup), as opposed to an
   * output that will never be acceptable (refused host, not an image, too large, a 404).
   */
  readonly retryable: boolean;
  /** The download's HTTP status, when it got one. */
  readonly httpStatus?: number;

  constructor(
    reason: OutputCopyReason,
    url: string,
    message: string,
    options: { retryable?: boolean; cause?: unknown; httpStatus?: number } = {},
  ) {
    const safeUrl = redactUrl(url);
    super('OUTPUT_COPY_FAILED', `${message} (${safeUrl})`, { status: 502, cause: options.cause });
    this.reason = reason;
    this.url = safeUrl;
    this.retryable = options.retryable ?? false;
    if (options.httpStatus !== undefined) this.httpStatus = options.httpStatus;
  }
}
