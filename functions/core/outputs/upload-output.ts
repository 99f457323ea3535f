import { Readable, Transform, type TransformCallback } from 'node:stream';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { OutputCopyError } from './errors.ts';
import type { ImageInspector } from './image-inspector.ts';

/*
 * Writing one output to S3 in one request where its size allows: buffered whole (with its hash),
 * streamed with a known length, or, for a large output of unknown length, a multipart upload.
 */

/**
 * S3's minimum part, and the largest output buffered whole: an output up to 5 MiB (FLUX outputs
 * are a few MiB) goes up in one PutObject that carries its hash. Larger outputs stream: with a
 * declared length in one PutObject, without one in a multipart upload of these parts.
 */
export const PART_SIZE = 5 * 1024 * 1024;
/** Parts in flight per output of unknown length: with 4 outputs at once, at most ~ 4 × (1 + 1) × 5 MiB is buffered. */
export const PARTS_IN_FLIGHT = 1;

export interface UploadTarget {
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
export async function readUpTo(
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
export async function putBuffered(
  target: UploadTarget,
  bytes: Buffer,
  sha256: string,
): Promise<string | undefined> {
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
export async function putStreamed(
  target: UploadTarget,
  inspector: ImageInspector,
  declaredBytes: number,
): Promise<string | undefined> {
  // The request cannot end on its own when its body fails: abort it then, and only then.
  const bodyFailed = new AbortController();
  const onError = () => bodyFailed.abort();
  inspector.once('error', onError);
  const body = new MinimumChunks(AWS_CHUNK_MIN_BYTES);
  // `pipe`, not `pipeline`: the download's error must not be passed into the SDK's body streams
  // (they would rethrow it as an uncaught exception); it aborts the request instead, above.
  inspector.pipe(body);
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
    if (bodyFailed.signal.aborted) {
      inspector.unpipe(body);
      body.destroy();
    }
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
export async function uploadMultipart(
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
