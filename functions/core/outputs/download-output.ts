import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { OutputCopyError } from './errors.ts';

/** What a download needs: the fetch to use and the size limit. */
export interface DownloadContext {
  fetch: typeof globalThis.fetch;
  maxBytes: number;
}

/** GETs an output without following redirects and returns its body once the status and size are acceptable. */
export async function download(
  context: DownloadContext,
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
