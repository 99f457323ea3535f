import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FluxEditError, FluxEditNetworkError, TransferError } from './errors.ts';
import type { OutputView, UploadTicket } from './types.ts';

/* Moving files to and from storage through presigned URLs: an input upload, an output download. */

/** One fetch of a transfer (network failures already turned into FluxEditNetworkError). */
export type TransferSend = (
  url: string,
  init: RequestInit,
  signal: AbortSignal | undefined,
) => Promise<Response>;

/** PUTs a local file to a presigned upload URL, streamed. */
export async function putFile(
  send: TransferSend,
  ticket: UploadTicket,
  path: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const response = await send(
    ticket.upload_url,
    {
      method: ticket.method ?? 'PUT',
      headers: ticket.headers,
      body: Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>,
      duplex: 'half',
    } as RequestInit,
    signal,
  );
  if (!response.ok) {
    const reason = storageErrorOf(await response.text().catch(() => ''));
    throw new TransferError(
      'UPLOAD_FAILED',
      `storage refused the upload of ${path}: HTTP ${response.status}${reason ? ` ${reason}` : ''}`,
      { status: response.status },
    );
  }
  await response.body?.cancel();
}

/** Streams one output to `path` (via `<path>.part`), checking its size and sha256. */
export async function downloadOutput(
  send: TransferSend,
  output: OutputView,
  path: string,
  signal: AbortSignal | undefined,
): Promise<string> {
  if (!output.url) throw new TransferError('DOWNLOAD_FAILED', `output ${output.index} has no download URL`);
  const response = await send(output.url, { method: 'GET' }, signal);
  if (!response.ok || !response.body) {
    const reason = storageErrorOf(await response.text().catch(() => ''));
    throw new TransferError(
      'DOWNLOAD_FAILED',
      `could not download output ${output.index}: HTTP ${response.status}${reason ? ` ${reason}` : ''}`,
      { status: response.status },
    );
  }
  const partial = `${path}.part`;
  const hash = createHash('sha256');
  let size = 0;
  const measure = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(
      Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>),
      measure,
      createWriteStream(partial),
      { signal },
    );
    const sha256 = hash.digest('hex');
    if ((output.sha256 && sha256 !== output.sha256) || size !== output.size_bytes) {
      throw new TransferError(
        'DOWNLOAD_CORRUPT',
        `output ${output.index} arrived damaged (${size} bytes, sha256 ${sha256}; expected ${output.size_bytes} bytes, sha256 ${output.sha256})`,
      );
    }
    await rename(partial, path);
    return path;
  } catch (error) {
    await rm(partial, { force: true });
    if (signal?.aborted) throw signal.reason;
    throw error instanceof FluxEditError
      ? error
      : new FluxEditNetworkError(new URL(output.url).origin, error);
  }
}

/** S3's XML error: `<Code>SignatureDoesNotMatch</Code><Message>…</Message>`. */
function storageErrorOf(text: string): string | undefined {
  const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1];
  if (!code) return undefined;
  return message ? `${code}: ${message}` : code;
}
