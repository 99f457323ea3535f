import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { CopyObjectCommand, DeleteObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { type Log, silentLog } from '../log.ts';
import { checkDownloadUrl, type DownloadPolicy } from './download-policy.ts';
import { OutputCopyError } from './errors.ts';
import { ImageInspector } from './image-inspector.ts';

/** One output of a job, as stored in the bucket. */
export interface StoredOutput {
  /** Position of the output in the job's result. */
  index: number;
  s3Uri: string;
  bucket: string;
  key: string;
  /** Sniffed from the bytes, not taken from the download's headers. */
  contentType: string;
  sizeBytes: number;
  /** Hex SHA-256 of the stored bytes. */
  sha256: string;
  sourceUrl: string;
}

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

/**
 * S3's minimum part, so the part buffers stay as small as S3 allows; an output up to 5 MiB (most
 * 1–2 MP images) still goes up in one PutObject. `npm run bench -- copy` chose it: copying 4
 * outputs of 25 MiB at once peaked ~98 MiB over the idle RSS with 5 MiB × 1 in flight, against
 * ~145 MiB with 8 MiB × 2, at no wall time measurably lost. (Most of what remains is streamed
 * chunks already spent and not yet collected, which no part size changes.)
 */
export const PART_SIZE = 5 * 1024 * 1024;
/** Parts in flight per output: with 4 outputs at once, at most ~ 4 × (1 + 1) × 5 MiB is buffered. */
export const PARTS_IN_FLIGHT = 1;
const DEFAULT_CONCURRENCY = 4;
const DEFAULT_TIMEOUT_MS = 60_000;

const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/**
 * Copies a finished job's output images into the bucket, streaming each one from its URL into a
 * (multipart, when large) upload while counting, hashing and sniffing it: memory stays bounded by
 * the upload's part buffers whatever the size. Every URL is checked against the policy before any
 * download starts. If one output fails, the others are aborted, whatever was already written for
 * this job is deleted (best effort) and the first failure is thrown. Running it again for the same
 * job writes the same keys, so a retried message simply overwrites.
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

  const body = await download(context, url, sourceUrl, signal).catch((error: unknown) => {
    throw signal.aborted ? explainFailure(error) : error;
  });

  const inspector = new ImageInspector({ maxBytes: context.maxBytes, url: sourceUrl });
  // Errors surface through `inspector` (pipeline destroys it); this only keeps them handled.
  pipeline(body, inspector).catch(() => {});

  let type: Awaited<typeof inspector.imageType>;
  try {
    type = await inspector.imageType;
  } catch (error) {
    throw explainFailure(error);
  }

  const key = `${context.keyPrefix}${index}.${type.extension}`;
  const sourceHost = url.host;
  context.onKey(key);
  const upload = new Upload({
    client: context.s3,
    partSize: PART_SIZE,
    queueSize: PARTS_IN_FLIGHT,
    params: {
      Bucket: context.bucket,
      Key: key,
      Body: inspector,
      ContentType: type.contentType,
      ChecksumAlgorithm: 'SHA256',
      Metadata: { 'source-host': sourceHost },
    },
  });
  let etag: string | undefined;
  try {
    ({ ETag: etag } = await upload.done());
  } catch (error) {
    // A failed download ends the upload too; blame the download then, S3 otherwise.
    if (inspector.errored) throw explainFailure(inspector.errored);
    inspector.destroy();
    throw new OutputCopyError('upload_failed', sourceUrl, 'output could not be written to S3', {
      retryable: true,
      cause: error,
    });
  }

  const sha256 = inspector.sha256;
  await stampChecksum(context, key, { etag, sha256, sourceHost, contentType: type.contentType, sourceUrl });
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

/** GETs an output without following redirects and returns its body once the status and size are acceptable. */
async function download(
  context: OutputContext,
  url: URL,
  sourceUrl: string,
  signal: AbortSignal,
): Promise<Readable> {
  let response: Response;
  try {
    response = await context.fetch(url, { redirect: 'manual', signal, headers: { accept: 'image/*' } });
  } catch (error) {
    throw new OutputCopyError('download_failed', sourceUrl, 'output could not be fetched', {
      retryable: true,
      cause: error,
    });
  }
  const refuse = async (error: OutputCopyError) => {
    // Release the connection instead of leaving the body to the garbage collector.
    await response.body?.cancel().catch(() => {});
    return error;
  };
  if (response.status >= 300 && response.status < 400) {
    throw await refuse(
      new OutputCopyError(
        'download_failed',
        sourceUrl,
        `output URL redirects (${response.status}); redirects are refused`,
      ),
    );
  }
  if (response.status !== 200) {
    throw await refuse(
      new OutputCopyError('download_failed', sourceUrl, `output download answered ${response.status}`, {
        // A file host may answer 403/404 until the file is ready: worth trying again for a while.
        retryable: [403, 404, 408, 429].includes(response.status) || response.status >= 500,
        httpStatus: response.status,
      }),
    );
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > context.maxBytes) {
    throw await refuse(
      new OutputCopyError(
        'too_large',
        sourceUrl,
        `output declares ${declared} bytes, over the ${context.maxBytes}-byte limit`,
      ),
    );
  }
  return response.body === null
    ? Readable.from([])
    : Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
}

/**
 * The hash is known only once the last byte has gone up, after S3 has already received the
 * object's metadata, so it is added by an in-place copy. The copy also makes S3 compute a
 * full-object SHA-256 (a multipart upload only has a checksum of part checksums), which is
 * compared with ours: end-to-end proof that S3 holds exactly the bytes that were hashed.
 * `CopySourceIfMatch` makes sure the object is still the one this run uploaded.
 */
async function stampChecksum(
  context: OutputContext,
  key: string,
  details: {
    etag: string | undefined;
    sha256: string;
    sourceHost: string;
    contentType: string;
    sourceUrl: string;
  },
): Promise<void> {
  let stored: string | undefined;
  try {
    const result = await context.s3.send(
      new CopyObjectCommand({
        Bucket: context.bucket,
        Key: key,
        CopySource: `${context.bucket}/${encodeURIComponent(key).replaceAll('%2F', '/')}`,
        CopySourceIfMatch: details.etag,
        MetadataDirective: 'REPLACE',
        ContentType: details.contentType,
        Metadata: { sha256: details.sha256, 'source-host': details.sourceHost },
        ChecksumAlgorithm: 'SHA256',
      }),
    );
    stored = result.CopyObjectResult?.ChecksumSHA256;
  } catch (error) {
    throw new OutputCopyError(
      'upload_failed',
      details.sourceUrl,
      'stored output could not be stamped with its hash',
      {
        retryable: true,
        cause: error,
      },
    );
  }
  const expected = Buffer.from(details.sha256, 'hex').toString('base64');
  // A composite checksum ("…-3") is not a hash of the bytes and proves nothing either way.
  if (stored !== undefined && !stored.includes('-') && stored !== expected) {
    throw new OutputCopyError(
      'upload_failed',
      details.sourceUrl,
      'S3 holds different bytes than were downloaded',
      {
        retryable: true,
      },
    );
  }
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
