import { pipeline } from 'node:stream/promises';
import { DeleteObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import { type Log, silentLog } from '../log.ts';
import { download } from './download-output.ts';
import { checkDownloadUrl, type DownloadPolicy } from './download-policy.ts';
import { OutputCopyError } from './errors.ts';
import { ImageInspector } from './image-inspector.ts';
import type { StoredOutput } from './stored-output.ts';
import {
  PART_SIZE,
  putBuffered,
  putStreamed,
  readUpTo,
  type UploadTarget,
  uploadMultipart,
} from './upload-output.ts';

export type { StoredOutput } from './stored-output.ts';
export { PART_SIZE, PARTS_IN_FLIGHT } from './upload-output.ts';

export interface CopyOutputsOptions {
  s3: S3Client;
  bucket: string;
  /** Key prefix, `''` or ending in `/`, e.g. `edits/`. */
  prefix: string;
  jobId: string;
  /** The job's output URLs, in result order; each is stored as `${prefix}${jobId}/${index}.${ext}`. */
  urls: string[];
  policy: DownloadPolicy;
  /** @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  /** @default silentLog */
  log?: Log;
  /** Outputs copied at once. @default 4 */
  concurrency?: number;
  /**
   * Budget for one output's download, from request to last byte. S3 calls are never cut short,
   * so that clean-up cannot race a write still in flight. @default 60_000
   */
  timeoutMs?: number;
}

const DEFAULT_CONCURRENCY = 4;
const DEFAULT_TIMEOUT_MS = 60_000;

const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/**
 * Copies a finished job's output images into the bucket in one S3 request per output: streaming
 * each one from its URL while counting, hashing and sniffing it, buffering only an output small
 * enough for one part (see {@link PART_SIZE}), so memory stays bounded whatever the size. Every
 * URL is checked against the policy before any download starts. If one output fails, the others
 * are aborted, whatever was already written for this job is deleted (best effort) and the first
 * failure is thrown. Running it again for the same job writes the same keys, so a retried
 * message simply overwrites.
 *
 * @throws {OutputCopyError} with the `reason` of the first failure.
 *
 * @example
 * const stored = await copyOutputs({
 *   s3: createS3Client(), bucket: config.outputBucket, prefix: config.outputPrefix, jobId: job.id,
 *   urls: result.imageUrls,
 *   policy: { allowedHosts: config.outputHostAllowlist, maxBytes: config.outputMaxBytes, allowLoopbackHttp: false },
 * });
 */
export async function copyOutputs(options: CopyOutputsOptions): Promise<StoredOutput[]> {
  const { urls, policy } = options;
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const log = options.log ?? silentLog;
  assertUsable(options, concurrency, timeoutMs);

  // Refuse the whole job before a single byte moves if any URL is outside the policy.
  const checked = urls.map((url) => checkDownloadUrl(url, policy));

  const failed = new AbortController();
  const attemptedKeys = new Set<string>();
  const stored: StoredOutput[] = [];
  let firstError: OutputCopyError | undefined;
  let next = 0;

  const context: OutputContext = {
    s3: options.s3,
    bucket: options.bucket,
    keyPrefix: `${options.prefix}${options.jobId}/`,
    maxBytes: policy.maxBytes,
    fetch: options.fetch ?? globalThis.fetch,
    timeoutMs,
    signal: failed.signal,
    onKey: (key) => attemptedKeys.add(key),
  };

  const worker = async () => {
    while (!failed.signal.aborted && next < checked.length) {
      const index = next++;
      const url = checked[index]!;
      try {
        const output = await copyOutput(context, index, url, urls[index]!);
        stored[index] = output;
        log.info('output stored', {
          index,
          key: output.key,
          sizeBytes: output.sizeBytes,
          sourceHost: url.host,
        });
      } catch (error) {
        // Failures after the first are mostly echoes of the abort; the first is the cause.
        if (firstError === undefined) {
          firstError = asOutputCopyError(error, urls[index]!, 'upload_failed');
          failed.abort(firstError);
        }
      }
    }
  };
  // Every worker awaits its upload to the end (even when aborted), so once they are all done no
  // write to the bucket is still in flight and the clean-up below cannot be overtaken by one.
  await Promise.all(Array.from({ length: Math.min(concurrency, checked.length) }, worker));

  if (firstError !== undefined) {
    log.warn('copying outputs failed', {
      jobId: options.jobId,
      reason: firstError.reason,
      url: firstError.url,
      error: firstError.message,
    });
    await deleteKeys(options.s3, options.bucket, [...attemptedKeys], log);
    throw firstError;
  }
  return stored;
}

/** Internal callers only, so plain checks: these catch wiring mistakes, not user input. */
function assertUsable(options: CopyOutputsOptions, concurrency: number, timeoutMs: number): void {
  const problems = [
    !Array.isArray(options.urls) && 'urls must be an array',
    !options.bucket && 'bucket is required',
    !JOB_ID.test(options.jobId) && 'jobId must be 1-128 of [A-Za-z0-9_-]',
    options.prefix !== '' && !options.prefix.endsWith('/') && "prefix must be '' or end in '/'",
    !(Number.isInteger(concurrency) && concurrency >= 1) && 'concurrency must be an integer ≥ 1',
    !(Number.isInteger(timeoutMs) && timeoutMs >= 1) && 'timeoutMs must be an integer ≥ 1',
    !(Number.isInteger(options.policy.maxBytes) && options.policy.maxBytes >= 1) &&
      'policy.maxBytes must be an integer ≥ 1',
  ].filter(Boolean);
  if (problems.length > 0) throw new TypeError(`copyOutputs: ${problems.join('; ')}`);
}

interface OutputContext {
  s3: S3Client;
  bucket: string;
  keyPrefix: string;
  maxBytes: number;
  fetch: typeof globalThis.fetch;
  timeoutMs: number;
  /** Aborts when another output of the job has failed. */
  signal: AbortSignal;
  /** Called before a write to `key` starts, so clean-up knows it may exist. */
  onKey: (key: string) => void;
}

async function copyOutput(
  context: OutputContext,
  index: number,
  url: URL,
  sourceUrl: string,
): Promise<StoredOutput> {
  const timeout = AbortSignal.timeout(context.timeoutMs);
  const signal = AbortSignal.any([context.signal, timeout]);
  // Whatever ends a stream early (network, timeout, the job's abort) arrives as its error;
  // the inspector's own refusals (too large, not an image) are already the whole story.
  const explainFailure = (error: unknown): OutputCopyError => {
    if (error instanceof OutputCopyError && error.reason !== 'download_failed') return error;
    if (!timeout.aborted) return asOutputCopyError(error, sourceUrl, 'download_failed');
    return new OutputCopyError(
      'download_failed',
      sourceUrl,
      `output not copied within ${context.timeoutMs} ms`,
      {
        retryable: true,
        cause: error,
      },
    );
  };

  const { body, declaredBytes } = await download(context, url, sourceUrl, signal).catch((error: unknown) => {
    throw signal.aborted ? explainFailure(error) : error;
  });

  // A large output with a declared length streams to S3, whose SDK hashes it on the way.
  const streamed = declaredBytes !== undefined && declaredBytes > PART_SIZE;
  const inspector = new ImageInspector({ maxBytes: context.maxBytes, url: sourceUrl, hash: !streamed });
  // Errors surface through `inspector` (pipeline destroys it); this only keeps them handled.
  pipeline(body, inspector).catch(() => {});

  let type: Awaited<typeof inspector.imageType>;
  try {
    type = await inspector.imageType;
  } catch (error) {
    throw explainFailure(error);
  }

  const key = `${context.keyPrefix}${index}.${type.extension}`;
  const target: UploadTarget = {
    s3: context.s3,
    bucket: context.bucket,
    key,
    contentType: type.contentType,
    sourceHost: url.host,
  };
  context.onKey(key);
  // A failed download ends the upload too, so blame the download whenever it failed, S3 otherwise.
  const uploadFailed = (error: unknown): OutputCopyError => {
    if (inspector.errored) return explainFailure(inspector.errored);
    inspector.destroy();
    if (error instanceof OutputCopyError) return error;
    return new OutputCopyError('upload_failed', sourceUrl, 'output could not be written to S3', {
      retryable: true,
      cause: error,
    });
  };

  let storedChecksum: string | undefined;
  try {
    if (streamed) {
      storedChecksum = await putStreamed(target, inspector, declaredBytes);
    } else {
      const head = await readUpTo(inspector, PART_SIZE, declaredBytes, sourceUrl);
      storedChecksum =
        head.rest === undefined
          ? await putBuffered(target, head.bytes, inspector.sha256)
          : await uploadMultipart(target, head.bytes, head.rest);
    }
  } catch (error) {
    throw uploadFailed(error);
  }

  // S3 verified the bytes against the checksum it was sent (ours, or the SDK's trailer over the
  // same stream) and answers with it: end-to-end proof that it holds exactly the bytes hashed. A
  // multipart upload's composite checksum ("…-3") is not a hash of the bytes and proves nothing.
  let sha256: string;
  if (streamed) {
    // Not hashed here: S3's full-object SHA-256 of what it stored is the hash.
    if (storedChecksum === undefined || storedChecksum.includes('-')) {
      throw new OutputCopyError('upload_failed', sourceUrl, 'S3 did not confirm the stored bytes’ SHA-256', {
        retryable: true,
      });
    }
    sha256 = Buffer.from(storedChecksum, 'base64').toString('hex');
  } else {
    sha256 = inspector.sha256;
    const expected = Buffer.from(sha256, 'hex').toString('base64');
    if (storedChecksum !== undefined && !storedChecksum.includes('-') && storedChecksum !== expected) {
      throw new OutputCopyError('upload_failed', sourceUrl, 'S3 holds different bytes than were downloaded', {
        retryable: true,
      });
    }
  }
  return {
    index,
    s3Uri: `s3://${context.bucket}/${key}`,
    bucket: context.bucket,
    key,
    contentType: type.contentType,
    sizeBytes: inspector.sizeBytes,
    sha256,
    sourceUrl,
  };
}

async function deleteKeys(s3: S3Client, bucket: string, keys: string[], log: Log): Promise<void> {
  if (keys.length === 0) return;
  try {
    const result = await s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
      }),
    );
    for (const error of result.Errors ?? []) {
      log.warn('could not delete a partial output', { key: error.Key, code: error.Code });
    }
  } catch (error) {
    // Best effort: the job fails either way, and a retry overwrites the same keys.
    log.warn('could not delete partial outputs', { keys, error: String(error) });
  }
}

/** Keeps an error that already says what went wrong; wraps anything else as a retryable failure. */
function asOutputCopyError(
  error: unknown,
  url: string,
  reason: 'download_failed' | 'upload_failed',
): OutputCopyError {
  if (error instanceof OutputCopyError) return error;
  const message = reason === 'download_failed' ? 'output download failed' : 'output copy failed';
  return new OutputCopyError(reason, url, message, { retryable: true, cause: error });
}
