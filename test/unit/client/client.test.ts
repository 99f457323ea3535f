import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  FluxEditApiError,
  FluxEditClient,
  FluxEditNetworkError,
  InputImageError,
  type JobView,
  TransferError,
  WaitTimeoutError,
} from '../../../client/index.ts';
import { type FakeApi, OUTPUT_BYTES, startFakeApi } from './fake-api.ts';

const PNG = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.alloc(64, 1),
]);
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(64, 2)]);
const FAST_RETRY = { baseDelayMs: 1, maxDelayMs: 5 };

let api: FakeApi;
let dir: string;
let client: FluxEditClient;

beforeEach(async () => {
  api = await startFakeApi();
  dir = await mkdtemp(join(tmpdir(), 'flux-edit-client-'));
  client = new FluxEditClient({ apiUrl: api.url, retry: FAST_RETRY });
});

afterEach(async () => {
  await api.close();
  await rm(dir, { recursive: true, force: true });
});

const submitOne = () => client.submit({ prompt: 'make it red', image_urls: ['https://example.com/a.png'] });

describe('Method: submit', () => {
  it('posts the edit request as JSON with its Idempotency-Key and returns the job', async () => {
    // Act
    const job = await client.submit(
      { prompt: 'make it red', image_urls: ['https://example.com/a.png'], seed: 7 },
      { idempotencyKey: 'key-1' },
    );

    // Assess
    expect(job).toMatchObject({ id: 'job1', status: 'queued' });
    const request = api.requests[0]!;
    expect(request).toMatchObject({ method: 'POST', path: '/edits' });
    expect(request.headers['idempotency-key']).toBe('key-1');
    expect(request.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request.body.toString())).toEqual({
      prompt: 'make it red',
      image_urls: ['https://example.com/a.png'],
      seed: 7,
    });
  });

  it('retries a submit with an Idempotency-Key after a 503, with the same key', async () => {
    // Prepare
    api.failNext.push({ status: 503 }, { status: 502 });

    // Act
    const job = await client.submit(
      { prompt: 'p', image_urls: ['https://example.com/a.png'] },
      { idempotencyKey: 'key-2' },
    );

    // Assess
    expect(job.id).toBe('job1');
    expect(api.requests.map((request) => request.headers['idempotency-key'])).toEqual([
      'key-2',
      'key-2',
      'key-2',
    ]);
  });

  it('never retries a submit without an Idempotency-Key: a repeat could start a second paid job', async () => {
    api.failNext.push({ status: 503 });

    await expect(submitOne()).rejects.toMatchObject({ status: 503 });
    expect(api.requests).toHaveLength(1);
  });

  it('gives up after the retries of its policy', async () => {
    api.failNext.push({ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 });

    await expect(client.get('job1')).rejects.toBeInstanceOf(FluxEditApiError);
    expect(api.requests).toHaveLength(3);
  });

  it('reports an unreachable API as FluxEditNetworkError naming the cause', async () => {
    // Prepare: a port that was free a moment ago
    const port = await new Promise<number>((found) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => found(port));
      });
    });
    const offline = new FluxEditClient({ apiUrl: `http://127.0.0.1:${port}`, retry: FAST_RETRY });

    // Act
    const error = await offline.get('job1').catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(FluxEditNetworkError);
    expect((error as Error).message).toContain(`could not reach http://127.0.0.1:${port}: `);
    expect((error as Error).message).toContain('ECONNREFUSED');
  });
});

describe('Method: uploadFile', () => {
  it('asks for an upload ticket, then PUTs the file with exactly the ticket’s headers', async () => {
    // Prepare
    const path = join(dir, 'cup.png');
    await writeFile(path, PNG);

    // Act
    const uploaded = await client.uploadFile(path);

    // Assess
    expect(uploaded).toMatchObject({ contentType: 'image/png', sizeBytes: PNG.length, filename: 'cup.png' });
    expect(uploaded.s3Uri).toMatch(/^s3:\/\/uploads-bucket\/uploads\/.+\/cup\.png$/);
    const [ticketRequest, put] = api.requests;
    expect(JSON.parse(ticketRequest!.body.toString())).toEqual({
      content_type: 'image/png',
      size_bytes: PNG.length,
      filename: 'cup.png',
    });
    expect(put).toMatchObject({ method: 'PUT' });
    expect(put!.headers['content-type']).toBe('image/png');
    expect(put!.headers['content-length']).toBe(String(PNG.length));
    expect(put!.headers['transfer-encoding']).toBeUndefined();
    expect(api.uploads.get(uploaded.s3Uri)?.body.equals(PNG)).toBe(true);
  });

  it('takes the content type from the magic bytes, not the file name', async () => {
    const path = join(dir, 'really-a-jpeg.png');
    await writeFile(path, JPEG);

    const uploaded = await client.uploadFile(path);

    expect(uploaded.contentType).toBe('image/jpeg');
    expect(api.uploads.get(uploaded.s3Uri)?.contentType).toBe('image/jpeg');
  });

  it('refuses a file that is not a PNG, JPEG or WebP image before sending anything', async () => {
    // Prepare
    const path = join(dir, 'notes.png');
    await writeFile(path, 'just some text, not an image');

    // Act
    const error = await client.uploadFile(path).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(InputImageError);
    expect(error).toMatchObject({ code: 'IMAGE_TYPE_UNSUPPORTED' });
    expect(api.requests).toHaveLength(0);
  });

  it('names a missing file', async () => {
    await expect(client.uploadFile(join(dir, 'missing.png'))).rejects.toMatchObject({
      code: 'IMAGE_UNREADABLE',
      message: expect.stringContaining('no such file'),
    });
  });
});

describe('Method: waitFor', () => {
  it('polls until the job ends, reporting every state it sees', async () => {
    // Prepare
    const job = await submitOne();
    const seen: string[] = [];

    // Act
    const done = await client.waitFor(job.id, {
      pollIntervalMs: 1,
      onProgress: (latest) => seen.push(`${latest.status}/${latest.phase ?? ''}`),
    });

    // Assess
    expect(done.status).toBe('succeeded');
    expect(done.outputs?.[0]?.url).toMatch(/\/files\/job1-0/);
    expect(seen).toEqual([
      'queued/queued',
      'queued/queued',
      'running/running',
      'running/copying',
      'succeeded/',
    ]);
  });

  it('returns a failed job rather than throwing', async () => {
    const job = await client.submit({ prompt: 'please __FAIL__', image_urls: ['https://example.com/a.png'] });

    const done = await client.waitFor(job.id, { pollIntervalMs: 1 });

    expect(done).toMatchObject({ status: 'failed', error: { code: 'UPSTREAM_FAILED' } });
  });

  it('sits out transient failures of a poll', async () => {
    // Prepare
    const job = await submitOne();
    const strict = new FluxEditClient({ apiUrl: api.url, retry: { maxRetries: 0 } });
    api.failNext.push({ status: 503 }, { status: 500 });

    // Act
    const done = await strict.waitFor(job.id, { pollIntervalMs: 1 });

    // Assess
    expect(done.status).toBe('succeeded');
  });

  it('stops on an error that retrying cannot fix', async () => {
    await expect(client.waitFor('nope', { pollIntervalMs: 1 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('gives up after its timeout with the job as last seen', async () => {
    // Prepare
    api.nextScript = [{ status: 'queued', phase: 'queued', queue_position: 5 }];
    const job = await submitOne();

    // Act
    const error = await client
      .waitFor(job.id, { pollIntervalMs: 5, timeoutMs: 20 })
      .catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect((error as WaitTimeoutError).job).toMatchObject({ status: 'queued', queue_position: 5 });
  });

  it('stops when its signal aborts', async () => {
    // Prepare
    api.nextScript = [{ status: 'running', phase: 'running' }];
    const job = await submitOne();
    const controller = new AbortController();

    // Act
    const waiting = client.waitFor(job.id, {
      pollIntervalMs: 5,
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });

    // Assess
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('Method: download', () => {
  async function finishedJob(): Promise<JobView> {
    const job = await submitOne();
    return client.waitFor(job.id, { pollIntervalMs: 1 });
  }

  it('saves each output as <jobId>-<index>.<ext> and returns the paths', async () => {
    // Prepare
    const job = await finishedJob();
    const out = join(dir, 'nested', 'out');

    // Act
    const files = await client.download(job, out);

    // Assess
    expect(files).toEqual([join(out, 'job1-0.png')]);
    expect((await readFile(files[0]!)).equals(OUTPUT_BYTES)).toBe(true);
    expect(await readdir(out)).toEqual(['job1-0.png']);
  });

  it('reads the job again when it has no presigned URLs', async () => {
    // Prepare
    const job = await finishedJob();
    const withoutUrls = { ...job, outputs: job.outputs?.map(({ url: _url, ...output }) => output) };
    const gets = () =>
      api.requests.filter((request) => request.method === 'GET' && request.path === '/edits/job1');
    const before = gets().length;

    // Act
    const files = await client.download(withoutUrls, dir);

    // Assess
    expect(files).toHaveLength(1);
    expect(gets().length).toBe(before + 1);
  });

  it('refuses an output whose checksum differs, and leaves no file behind', async () => {
    // Prepare
    const job = await finishedJob();
    api.outputBytes = Buffer.from('something else entirely');

    // Act
    const error = await client.download(job, dir).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(TransferError);
    expect(error).toMatchObject({ code: 'DOWNLOAD_CORRUPT' });
    expect(await readdir(dir)).toEqual([]);
  });

  it('reports a storage refusal with the storage’s error code', async () => {
    const job = await finishedJob();
    const refusing = vi.fn(
      async () =>
        new Response('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>', {
          status: 403,
        }),
    );
    const downloader = new FluxEditClient({ apiUrl: api.url, fetch: refusing as unknown as typeof fetch });

    await expect(downloader.download(job, dir)).rejects.toMatchObject({
      code: 'DOWNLOAD_FAILED',
      status: 403,
      message: expect.stringContaining('AccessDenied: Request has expired'),
    });
  });
});
