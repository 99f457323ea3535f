import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { DeleteObjectsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { type Log, silentLog } from '../log.ts';
import { checkDownloadUrl, type DownloadPolicy } from './download-policy.ts';
import { OutputCopyError } from './errors.ts';
import { ImageInspector } from './image-inspector.ts';
import type { StoredOutput } from './stored-output.ts';

export type { StoredOutput } from './stored-output.ts';

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
 * S3's minimum part, and the largest output buffered whole: an output up to 5 MiB (FLUX outputs
 * are a few MiB) goes up in one PutObject that carries its hash. Larger outputs stream: with a
 * declared length in one PutObject, without one in a multipart upload of these parts.
 */
export const PART_SIZE = 5 * 1024 * 1024;
/** Parts in flight per output of unknown length: with 4 outputs at once, at most ~ 4 × (1 + 1) × 5 MiB is buffered. */
export const PARTS_IN_FLIGHT = 1;
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

interface UploadTarget {
  s3: S3Client;
  bucket: string;
  key: string;
  contentType: string;
  sourceHost: string;
}

/**
 * Reads the inspected body until it ends or passes `limit` bytes. A body that ended is returned
 * whole (`rest` undefined); otherwise `rest` yields the remaining chunks of the same read. With a
 * declared length the bytes go straight into one buffer of that size (no concatenation).
 */
async function readUpTo(
  inspector: ImageInspector,
  limit: number,
  declaredBytes: number | undefined,
  sourceUrl: string,
): Promise<{ bytes: Buffer; rest?: AsyncIterator<Buffer> }> {
  const chunks = inspector[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const held: Buffer[] = [];
  let size = 0;
  for (;;) {
    const next = await chunks.next();
    if (next.done) break;
    held.push(next.value);
    size += next.value.byteLength;
    if (size > limit) return { bytes: Buffer.concat(held, size), rest: chunks };
  }
  if (declaredBytes !== undefined && size !== declaredBytes) {
    throw new OutputCopyError(
      'download_failed',
      sourceUrl,
      `output ended after ${size} of its declared ${declaredBytes} bytes`,
      { retryable: true },
    );
  }
  return { bytes: held.length === 1 ? held[0]! : Buffer.concat(held, size) };
}

/**
 * An output up to one part: one PutObject carrying everything, its hash included, so S3 checks
 * the bytes against the hash it stores (`ChecksumSHA256`) and the metadata names it.
 */
async function putBuffered(target: UploadTarget, bytes: Buffer, sha256: string): Promise<string | undefined> {
  const result = await target.s3.send(
    new PutObjectCommand({
      Bucket: target.bucket,
      Key: target.key,
      Body: bytes,
      ContentLength: bytes.byteLength,
      ContentType: target.contentType,
      // Both: the algorithm tells S3 to keep the checksum; the value is ours, so the SDK hashes nothing.
      ChecksumAlgorithm: 'SHA256',
      ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64'),
      Metadata: { sha256, 'source-host': target.sourceHost },
    }),
  );
  return result.ChecksumSHA256;
}

/**
 * A larger output whose length the download declared: one PutObject streaming the body as it
 * arrives (nothing buffered beyond the streams' own small buffers), its SHA-256 computed on the
 * way by the SDK and sent as a trailer that S3 verifies, stores and answers with. The hash is not
 * in the metadata (headers go before the body): the job record and its events carry it.
 */
async function putStreamed(
  target: UploadTarget,
  inspector: ImageInspector,
  declaredBytes: number,
): Promise<string | undefined> {
  // The request cannot end on its own when its body fails: abort it then, and only then.
  const bodyFailed = new AbortController();
  const onError = () => bodyFailed.abort();
  inspector.once('error', onError);
  const body = new MinimumChunks(AWS_CHUNK_MIN_BYTES);
  // Errors reach the request through `inspector`'s listener above; this only keeps them handled.
  pipeline(inspector, body).catch(() => {});
  try {
    const result = await target.s3.send(
      new PutObjectCommand({
        Bucket: target.bucket,
        Key: target.key,
        Body: body,
        ContentLength: declaredBytes,
        ContentType: target.contentType,
        ChecksumAlgorithm: 'SHA256',
        Metadata: { 'source-host': target.sourceHost },
      }),
      { abortSignal: bodyFailed.signal },
    );
    return result.ChecksumSHA256;
  } finally {
    inspector.off('error', onError);
  }
}

/**
 * S3 refuses an aws-chunked chunk under 8 KiB but the last, and the SDK sends each chunk of the
 * body as one. (Its own `requestStreamBufferSize` re-chunking ignores backpressure: a download
 * faster than the upload would pile up in memory.)
 */
const AWS_CHUNK_MIN_BYTES = 16 * 1024;

/** Passes chunks on as they are, except that small ones are joined until they reach `min` bytes. */
class MinimumChunks extends Transform {
  readonly #min: number;
  #held: Buffer[] = [];
  #heldBytes = 0;

  constructor(min: number) {
    super();
    this.#min = min;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#heldBytes === 0 && chunk.byteLength >= this.#min) {
      callback(null, chunk);
      return;
    }
    this.#held.push(chunk);
    this.#heldBytes += chunk.byteLength;
    if (this.#heldBytes < this.#min) {
      callback();
      return;
    }
    callback(null, this.#take());
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.#heldBytes > 0 ? this.#take() : undefined);
  }

  #take(): Buffer {
    const joined = Buffer.concat(this.#held, this.#heldBytes);
    this.#held = [];
    this.#heldBytes = 0;
    return joined;
  }
}

/**
 * A larger output of unknown length (a chunked download): a multipart upload in PART_SIZE parts,
 * PARTS_IN_FLIGHT at a time, each part's SHA-256 checked by S3. No copy afterwards to stamp the
 * whole object's hash: the job record and its events carry it.
 */
async function uploadMultipart(
  target: UploadTarget,
  head: Buffer,
  rest: AsyncIterator<Buffer>,
): Promise<string | undefined> {
  const body = Readable.from(
    (async function* () {
      yield head;
      for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
    })(),
    { objectMode: false },
  );
  const upload = new Upload({
    client: target.s3,
    partSize: PART_SIZE,
    queueSize: PARTS_IN_FLIGHT,
    params: {
      Bucket: target.bucket,
      Key: target.key,
      Body: body,
      ContentType: target.contentType,
      ChecksumAlgorithm: 'SHA256',
      Metadata: { 'source-host': target.sourceHost },
    },
  });
  const result = await upload.done();
  return 'ChecksumSHA256' in result ? result.ChecksumSHA256 : undefined;
}

/** GETs an output without following redirects and returns its body once the status and size are acceptable. */
async function download(
  context: OutputContext,
  url: URL,
  sourceUrl: string,
  signal: AbortSignal,
): Promise<{ body: Readable; declaredBytes: number | undefined }> {
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
  const header = response.headers.get('content-length');
  // A compressed body's length is not the image's: treat it as unknown.
  const encoded = (response.headers.get('content-encoding') ?? 'identity') !== 'identity';
  const declared = header !== null && /^\d+$/.test(header.trim()) && !encoded ? Number(header) : undefined;
  if (declared !== undefined && declared > context.maxBytes) {
    throw await refuse(
      new OutputCopyError(
        'too_large',
        sourceUrl,
        `output declares ${declared} bytes, over the ${context.maxBytes}-byte limit`,
      ),
    );
  }
  const body =
    response.body === null
      ? Readable.from([])
      : Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
  return { body, declaredBytes: declared };
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
