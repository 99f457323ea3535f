import { createHash } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it, vi } from 'vitest';
import { copyOutputs, type DownloadPolicy, PART_SIZE, PARTS_IN_FLIGHT } from '#core/outputs/index';
import { failureOf } from '../../support/output-copy-failure.ts';

const PNG_HEAD = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
const JPEG_HEAD = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1]);
const png = (size = 64) => Buffer.concat([PNG_HEAD, Buffer.alloc(size - PNG_HEAD.length, 7)]);
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

const policy: DownloadPolicy = {
  allowedHosts: ['*.runcomfy.net'],
  maxBytes: 50 * 1024 * 1024,
  allowLoopbackHttp: false,
};
const url = (n: number, query = '') => `https://files.runcomfy.net/out/${n}.png${query}`;

type Route = (init: RequestInit) => Response | Promise<Response>;

/** A fetch that answers from a table of routes, recording each call's URL and options. */
function fakeFetch(routes: Record<string, Route>) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetch = vi.fn(async (input: string | URL | Request, init: RequestInit = {}) => {
    const href = input instanceof Request ? input.url : String(input);
    calls.push({ url: href, init });
    const route = routes[href];
    if (!route) throw new Error(`unexpected fetch ${href}`);
    return route(init);
  });
  return { fetch: fetch as unknown as typeof globalThis.fetch, calls };
}

const ok =
  (body: Buffer, headers: Record<string, string> = {}): Route =>
  () =>
    new Response(new Uint8Array(body), {
      status: 200,
      headers: { 'content-length': String(body.length), ...headers },
    });

interface S3Call {
  name: string;
  input: Record<string, unknown>;
}

/**
 * An S3 client whose `send` keeps objects in memory, so the copy logic can be checked without
 * a server (the integration suite covers moto). `fail` lets a test break one command.
 */
function fakeS3(
  options: { fail?: (call: S3Call) => Error | undefined; wrongChecksum?: boolean; partDelayMs?: number } = {},
) {
  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint: 'http://s3.test',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const calls: S3Call[] = [];
  const objects = new Map<string, Buffer>();
  const uploads = new Map<string, Map<number, Buffer>>();
  let bytesHandedOver = 0;
  const send = async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
    const call = { name: command.constructor.name.replace(/Command$/, ''), input: command.input };
    calls.push(call);
    const failure = options.fail?.(call);
    if (failure) throw failure;
    const key = String(call.input.Key);
    switch (call.name) {
      case 'PutObject': {
        const chunks: Buffer[] = [];
        if (!Buffer.isBuffer(call.input.Body))
          for await (const chunk of call.input.Body as AsyncIterable<Buffer>) chunks.push(chunk);
        const body = Buffer.isBuffer(call.input.Body) ? call.input.Body : Buffer.concat(chunks);
        bytesHandedOver += body.length;
        objects.set(key, Buffer.from(body));
        // S3 answers with the checksum of what it stored (the SDK's trailer or the header sent).
        const checksum = createHash('sha256')
          .update(options.wrongChecksum ? Buffer.from('other') : body)
          .digest('base64');
        return { ETag: '"put"', ChecksumSHA256: checksum };
      }
      case 'CreateMultipartUpload':
        uploads.set(key, new Map());
        return { UploadId: 'upload-1' };
      case 'UploadPart': {
        const body = call.input.Body as Buffer;
        bytesHandedOver += body.length;
        // A slower S3 than the source: only backpressure can keep the download from running ahead.
        await new Promise((resolve) => setTimeout(resolve, options.partDelayMs ?? 0));
        uploads.get(key)?.set(Number(call.input.PartNumber), Buffer.from(body));
        return { ETag: `"part-${String(call.input.PartNumber)}"` };
      }
      case 'CompleteMultipartUpload': {
        const parts = [...(uploads.get(key) ?? new Map<number, Buffer>()).entries()].sort(
          ([a], [b]) => a - b,
        );
        objects.set(key, Buffer.concat(parts.map(([, part]) => part)));
        return { ETag: '"complete"' };
      }
      case 'AbortMultipartUpload':
      case 'DeleteObjects':
        return {};
      default:
        throw new Error(`unexpected ${call.name}`);
    }
  };
  s3.send = send as unknown as S3Client['send'];
  return { s3, calls, objects, bytesHandedOver: () => bytesHandedOver };
}

const base = { bucket: 'outputs', prefix: 'edits/', jobId: 'job-1', policy };

describe('Function: copyOutputs', () => {
  it('stores each output under its index with the sniffed type and its hash, in one PutObject', async () => {
    // Prepare: the server's Content-Type is wrong on purpose; only the bytes count.
    const first = png(100);
    const second = Buffer.concat([JPEG_HEAD, Buffer.alloc(50, 1)]);
    const { fetch, calls: fetches } = fakeFetch({
      [url(0)]: ok(first, { 'content-type': 'text/html' }),
      [url(1, '?sig=secret')]: ok(second),
    });
    const { s3, calls, objects } = fakeS3();

    // Act
    const stored = await copyOutputs({ ...base, s3, fetch, urls: [url(0), url(1, '?sig=secret')] });

    // Assess
    expect(stored).toEqual([
      {
        index: 0,
        s3Uri: 's3://outputs/edits/job-1/0.png',
        bucket: 'outputs',
        key: 'edits/job-1/0.png',
        contentType: 'image/png',
        sizeBytes: 100,
        sha256: sha256(first),
        sourceUrl: url(0),
      },
      expect.objectContaining({
        index: 1,
        key: 'edits/job-1/1.jpg',
        contentType: 'image/jpeg',
        sha256: sha256(second),
      }),
    ]);
    expect(objects.get('edits/job-1/0.png')).toEqual(first);
    expect(fetches.every(({ init }) => init.redirect === 'manual')).toBe(true);
    const put = calls.find((call) => call.name === 'PutObject' && call.input.Key === 'edits/job-1/0.png');
    expect(put?.input).toMatchObject({
      ContentType: 'image/png',
      ContentLength: 100,
      ChecksumSHA256: Buffer.from(sha256(first), 'hex').toString('base64'),
      Metadata: { sha256: sha256(first), 'source-host': 'files.runcomfy.net' },
    });
    // One request per output: no multipart, no copy to stamp the hash afterwards.
    expect(calls.map((call) => call.name)).toEqual(['PutObject', 'PutObject']);
  });

  it('streams a larger output whose length is declared in one PutObject, holding none of it', async () => {
    // Prepare: 12 MiB, generated as it is read; the lead is what was downloaded but not yet taken by S3.
    const total = 12 * 1024 * 1024;
    const chunkSize = 64 * 1024;
    const expected = createHash('sha256');
    let produced = 0;
    let maxLead = 0;
    const fake = fakeS3();
    let taken = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (produced >= total) {
          controller.close();
          return;
        }
        const chunk = Buffer.alloc(Math.min(chunkSize, total - produced), produced >> 16);
        if (produced === 0) PNG_HEAD.copy(chunk);
        expected.update(chunk);
        produced += chunk.length;
        maxLead = Math.max(maxLead, produced - taken);
        controller.enqueue(chunk);
      },
    });
    const send = fake.s3.send.bind(fake.s3);
    fake.s3.send = (async (command: { input: { Body?: unknown } }) => {
      const stream = command.input.Body;
      if (stream && !Buffer.isBuffer(stream)) {
        command.input.Body = (async function* () {
          for await (const chunk of stream as AsyncIterable<Buffer>) {
            taken += chunk.length;
            yield chunk;
          }
        })();
      }
      return send(command as never);
    }) as unknown as typeof fake.s3.send;
    const { fetch } = fakeFetch({
      [url(0)]: () => new Response(body, { status: 200, headers: { 'content-length': String(total) } }),
    });

    // Act
    const [stored] = await copyOutputs({ ...base, s3: fake.s3, fetch, urls: [url(0)] });

    // Assess
    expect(stored).toMatchObject({ sizeBytes: total, sha256: expected.digest('hex') });
    expect(fake.calls.map((call) => call.name)).toEqual(['PutObject']);
    expect(fake.calls[0]?.input).toMatchObject({
      ContentLength: total,
      ContentType: 'image/png',
      ChecksumAlgorithm: 'SHA256',
      Metadata: { 'source-host': 'files.runcomfy.net' },
    });
    // Only the streams' small buffers are ever ahead of S3.
    expect(maxLead).toBeLessThanOrEqual(1024 * 1024);
  });

  it('streams a 30 MB output in PART_SIZE parts, never far ahead of what S3 has taken', async () => {
    // Prepare: a lazily generated body; the lead is how much was downloaded but not yet handed to S3.
    const total = 30 * 1024 * 1024;
    const chunkSize = 64 * 1024;
    const expected = createHash('sha256');
    let produced = 0;
    let maxLead = 0;
    const fake = fakeS3({ partDelayMs: 20 });
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (produced >= total) {
          controller.close();
          return;
        }
        const chunk = Buffer.alloc(Math.min(chunkSize, total - produced), produced >> 16);
        if (produced === 0) PNG_HEAD.copy(chunk);
        expected.update(chunk);
        produced += chunk.length;
        maxLead = Math.max(maxLead, produced - fake.bytesHandedOver());
        controller.enqueue(chunk);
      },
    });
    const { fetch } = fakeFetch({ [url(0)]: () => new Response(body, { status: 200 }) });

    // Act
    const [stored] = await copyOutputs({ ...base, s3: fake.s3, fetch, urls: [url(0)] });

    // Assess
    expect(stored).toMatchObject({ sizeBytes: total, sha256: expected.digest('hex') });
    const parts = fake.calls
      .filter((call) => call.name === 'UploadPart')
      .map((call) => (call.input.Body as Buffer).length);
    const fullParts = Math.floor(total / PART_SIZE);
    expect(parts).toEqual([
      ...Array.from({ length: fullParts }, () => PART_SIZE),
      ...(total % PART_SIZE ? [total % PART_SIZE] : []),
    ]);
    // Only the upload's parts in flight (PARTS_IN_FLIGHT × PART_SIZE) plus the streams' small
    // buffers are ever held; buffering the body would put all 30 MiB ahead of S3 before the first
    // part went up.
    expect(maxLead).toBeLessThanOrEqual(PARTS_IN_FLIGHT * PART_SIZE + 1024 * 1024);
    expect(fake.calls.map((call) => call.name)).toContain('CompleteMultipartUpload');
  });

  it('refuses the whole job before downloading anything when one URL is outside the policy', async () => {
    // Prepare
    const { fetch, calls: fetches } = fakeFetch({ [url(0)]: ok(png()) });
    const { s3, calls } = fakeS3();

    // Act
    const error = await failureOf(
      copyOutputs({ ...base, s3, fetch, urls: [url(0), 'https://runcomfy.net.evil.com/x.png?token=secret'] }),
    );

    // Assess
    expect(error).toMatchObject({ reason: 'host_not_allowed', url: 'https://runcomfy.net.evil.com/x.png' });
    expect(fetches).toHaveLength(0);
    expect(calls).toHaveLength(0);
  });

  it('refuses a declared Content-Length over the cap without reading the body', async () => {
    // Prepare
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      cancel() {
        cancelled = true;
      },
    });
    const { fetch } = fakeFetch({
      [url(0)]: () => new Response(body, { status: 200, headers: { 'content-length': '2000' } }),
    });
    const { s3, calls } = fakeS3();

    // Act
    const error = await failureOf(
      copyOutputs({ ...base, s3, fetch, urls: [url(0)], policy: { ...policy, maxBytes: 1000 } }),
    );

    // Assess
    expect(error.reason).toBe('too_large');
    expect(cancelled).toBe(true);
    expect(calls).toHaveLength(0);
  });

  it('refuses an undeclared body once it passes the cap', async () => {
    // Prepare: chunked (no Content-Length), 4 KiB over a 1 KiB cap.
    const { fetch } = fakeFetch({ [url(0)]: () => new Response(new Uint8Array(png(4096)), { status: 200 }) });
    const { s3 } = fakeS3();

    // Act
    const error = await failureOf(
      copyOutputs({ ...base, s3, fetch, urls: [url(0)], policy: { ...policy, maxBytes: 1024 } }),
    );

    // Assess
    expect(error).toMatchObject({ reason: 'too_large', retryable: false });
  });

  it('refuses a body that is not an image, whatever its Content-Type', async () => {
    // Prepare
    const html = Buffer.from('<!doctype html><title>Expired</title>');
    const { fetch } = fakeFetch({ [url(0)]: ok(html, { 'content-type': 'image/png' }) });
    const { s3, calls } = fakeS3();

    // Act
    const error = await failureOf(copyOutputs({ ...base, s3, fetch, urls: [url(0)] }));

    // Assess
    expect(error).toMatchObject({ reason: 'not_an_image', retryable: false });
    expect(calls.filter((call) => call.name !== 'DeleteObjects')).toHaveLength(0);
  });

  it.each([
    [302, false, 'redirects'],
    [404, true, 'answered 404'],
    [403, true, 'answered 403'],
    [410, false, 'answered 410'],
    [429, true, 'answered 429'],
    [503, true, 'answered 503'],
  ])('fails a %i answer as download_failed (retryable: %s)', async (status, retryable, message) => {
    // Prepare
    const { fetch } = fakeFetch({
      [url(0, '?X-Amz-Signature=secret')]: () =>
        new Response('nope', { status, headers: { location: 'https://elsewhere.example/x.png' } }),
    });
    const { s3 } = fakeS3();

    // Act
    const error = await failureOf(
      copyOutputs({ ...base, s3, fetch, urls: [url(0, '?X-Amz-Signature=secret')] }),
    );

    // Assess
    expect(error).toMatchObject({
      code: 'OUTPUT_COPY_FAILED',
      reason: 'download_failed',
      retryable,
      url: url(0),
    });
    expect(error.message).toContain(message);
    expect(error.message).not.toContain('secret');
  });

  it('gives up on a download that exceeds its time budget', async () => {
    // Prepare: a server that never answers (until the request is aborted).
    const { fetch } = fakeFetch({
      [url(0)]: (init) =>
        new Promise<Response>((_resolve, reject) => {
          init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
        }),
    });
    const { s3 } = fakeS3();

    // Act
    const error = await failureOf(copyOutputs({ ...base, s3, fetch, urls: [url(0)], timeoutMs: 50 }));

    // Assess
    expect(error).toMatchObject({ reason: 'download_failed', retryable: true });
    expect(error.message).toContain('within 50 ms');
  });

  it('aborts the other downloads as soon as one output fails', async () => {
    // Prepare: output 0 sends its head then stalls for good; output 1 is missing.
    let stalledSignal: AbortSignal | undefined;
    const { fetch } = fakeFetch({
      [url(0)]: (init) => {
        stalledSignal = init.signal ?? undefined;
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(png(64));
            init.signal?.addEventListener('abort', () => controller.error(init.signal?.reason));
          },
        });
        return new Response(body, { status: 200 });
      },
      [url(1)]: () => new Response('gone', { status: 404 }),
    });
    const { s3 } = fakeS3();

    // Act: the budget is far longer than the test timeout, so only the abort can end output 0.
    const error = await failureOf(
      copyOutputs({ ...base, s3, fetch, urls: [url(0), url(1)], timeoutMs: 600_000 }),
    );

    // Assess
    expect(error.message).toContain('answered 404');
    expect(stalledSignal?.aborted).toBe(true);
  });

  it('deletes what it already wrote for the job when a later output fails', async () => {
    // Prepare: one at a time, so outputs 0 and 1 are surely written before 2 fails.
    const { fetch } = fakeFetch({
      [url(0)]: ok(png()),
      [url(1)]: ok(png()),
      [url(2)]: () => new Response('gone', { status: 404 }),
    });
    const { s3, calls } = fakeS3();

    // Act
    const error = await failureOf(
      copyOutputs({ ...base, s3, fetch, urls: [url(0), url(1), url(2)], concurrency: 1 }),
    );

    // Assess
    expect(error.reason).toBe('download_failed');
    const deletion = calls.find((call) => call.name === 'DeleteObjects');
    expect(deletion?.input).toEqual({
      Bucket: 'outputs',
      Delete: { Objects: [{ Key: 'edits/job-1/0.png' }, { Key: 'edits/job-1/1.png' }], Quiet: true },
    });
  });

  it('reports an S3 failure as upload_failed and still throws it when the clean-up fails too', async () => {
    // Prepare
    const { fetch } = fakeFetch({ [url(0)]: ok(png()) });
    const { s3 } = fakeS3({
      fail: (call) =>
        call.name === 'PutObject' || call.name === 'DeleteObjects' ? new Error('SlowDown') : undefined,
    });
    const warn = vi.fn();

    // Act
    const error = await failureOf(
      copyOutputs({ ...base, s3, fetch, urls: [url(0)], log: { debug() {}, info() {}, error() {}, warn } }),
    );

    // Assess
    expect(error).toMatchObject({ reason: 'upload_failed', retryable: true });
    expect((error.cause as Error).message).toBe('SlowDown');
    expect(warn).toHaveBeenCalledWith('could not delete partial outputs', expect.anything());
  });

  it('fails when S3 reports a different hash for the stored bytes', async () => {
    // Prepare
    const { fetch } = fakeFetch({ [url(0)]: ok(png()) });
    const { s3 } = fakeS3({ wrongChecksum: true });

    // Act
    const error = await failureOf(copyOutputs({ ...base, s3, fetch, urls: [url(0)] }));

    // Assess
    expect(error).toMatchObject({ reason: 'upload_failed' });
    expect(error.message).toContain('different bytes');
  });

  it('never has more than `concurrency` downloads open', async () => {
    // Prepare
    let open = 0;
    let maxOpen = 0;
    const routes: Record<string, Route> = {};
    for (let n = 0; n < 6; n++) {
      routes[url(n)] = async () => {
        open += 1;
        maxOpen = Math.max(maxOpen, open);
        await new Promise((resolve) => setImmediate(resolve));
        const body = png();
        return new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(body);
              controller.close();
              open -= 1;
            },
          }),
          { status: 200 },
        );
      };
    }
    const { fetch } = fakeFetch(routes);
    const { s3 } = fakeS3();

    // Act
    const stored = await copyOutputs({
      ...base,
      s3,
      fetch,
      urls: [0, 1, 2, 3, 4, 5].map((n) => url(n)),
      concurrency: 2,
    });

    // Assess
    expect(stored.map((output) => output.key)).toEqual([0, 1, 2, 3, 4, 5].map((n) => `edits/job-1/${n}.png`));
    expect(maxOpen).toBeLessThanOrEqual(2);
  });

  it('does nothing for a job without outputs', async () => {
    // Prepare
    const { fetch, calls: fetches } = fakeFetch({});
    const { s3, calls } = fakeS3();

    // Act
    const stored = await copyOutputs({ ...base, s3, fetch, urls: [] });

    // Assess
    expect(stored).toEqual([]);
    expect(fetches).toHaveLength(0);
    expect(calls).toHaveLength(0);
  });

  it.each([
    [{ jobId: '../other' }, 'jobId'],
    [{ prefix: 'edits' }, 'prefix'],
    [{ concurrency: 0 }, 'concurrency'],
  ])('rejects unusable options %o', async (override, field) => {
    // Prepare
    const { s3 } = fakeS3();

    // Act & Assess
    await expect(copyOutputs({ ...base, s3, urls: [], ...override })).rejects.toThrow(field);
  });
});
