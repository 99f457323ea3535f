import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createS3Client } from '#adapters/aws/clients';
import { copyOutputs, type DownloadPolicy, PART_SIZE } from '#core/outputs/index';
import { type MotoServer, startMotoServer } from '../../local/moto-server.ts';
import { closeServer, listenOnLoopback } from '../support/loopback-server.ts';
import { stubAwsEnvFor } from '../support/moto-env.ts';
import { failureOf } from '../support/output-copy-failure.ts';

const BUCKET = 'flux-edit-outputs';
const CHUNK = 64 * 1024;

/**
 * A loopback file server standing in for RunComfy's CDN. Besides plain files it can answer
 * chunked (no Content-Length), cut a body short, lie about the type, redirect, 404, never answer, and hold
 * requests at a barrier until `size` of them are open at once (to prove real concurrency).
 */
class FileServer {
  readonly files = new Map<string, { body: Buffer; contentType: string }>();
  readonly requested: string[] = [];
  barrier = { size: 0, waiting: [] as (() => void)[], open: 0, maxOpen: 0 };
  #server: Server = createServer((request, response) => void this.#handle(request, response));
  origin = '';

  async start(): Promise<void> {
    this.origin = await listenOnLoopback(this.#server);
  }

  stop(): Promise<void> {
    return closeServer(this.#server);
  }

  url(path: string): string {
    return `${this.origin}${path}`;
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = request.url ?? '/';
    this.requested.push(path);
    const [, mode, name = ''] = /^\/([a-z-]+)\/?([^?]*)/.exec(path) ?? [];
    const file = this.files.get(name);
    switch (mode) {
      case 'files':
        if (!file) break;
        response.writeHead(200, { 'content-type': file.contentType, 'content-length': file.body.length });
        response.end(file.body);
        return;
      case 'chunked':
        if (!file) break;
        response.writeHead(200, { 'content-type': file.contentType });
        for (let offset = 0; offset < file.body.length && !response.destroyed; offset += CHUNK) {
          if (!response.write(file.body.subarray(offset, offset + CHUNK)))
            await once(response, 'drain').catch(() => {});
        }
        response.end();
        return;
      case 'barrier': {
        if (!file) break;
        const barrier = this.barrier;
        barrier.open += 1;
        barrier.maxOpen = Math.max(barrier.maxOpen, barrier.open);
        if (barrier.open >= barrier.size) for (const release of barrier.waiting.splice(0)) release();
        else await new Promise<void>((resolve) => barrier.waiting.push(resolve));
        response.writeHead(200, { 'content-type': file.contentType, 'content-length': file.body.length });
        response.end(file.body, () => {
          barrier.open -= 1;
        });
        return;
      }
      case 'truncated':
        // Declares the whole file, sends half of it, then drops the connection (a reset).
        if (!file) break;
        response.writeHead(200, { 'content-type': file.contentType, 'content-length': file.body.length });
        response.write(file.body.subarray(0, file.body.length >> 1), () => {
          setTimeout(() => response.destroy(), 50);
        });
        return;
      case 'html':
        // An error page that claims to be an image.
        response.writeHead(200, { 'content-type': 'image/png' });
        response.end('<!doctype html><html><body>Link expired</body></html>');
        return;
      case 'redirect':
        response.writeHead(302, { location: this.url(`/files/${name}`) });
        response.end();
        return;
      case 'hang':
        return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' });
    response.end('not found');
  }
}

const image = (format: 'png' | 'jpeg' | 'webp' | 'gif') =>
  sharp({ create: { width: 64, height: 48, channels: 3, background: '#3366cc' } })
    .toFormat(format)
    .toBuffer();

const sha256Base64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

describe('Function: copyOutputs (moto S3, loopback file server)', () => {
  let moto: MotoServer;
  let s3: S3Client;
  const server = new FileServer();
  const commands: string[] = [];
  let policy: DownloadPolicy;
  let jobCounter = 0;
  const nextJobId = () => `job-${++jobCounter}`;

  const listKeys = async (prefix: string) =>
    ((await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []).map(
      (object) => object.Key,
    );
  const readObject = async (key: string) => {
    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return { ...object, bytes: Buffer.from(await object.Body!.transformToByteArray()) };
  };
  const copy = (jobId: string, urls: string[], overrides: Partial<Parameters<typeof copyOutputs>[0]> = {}) =>
    copyOutputs({
      s3,
      bucket: BUCKET,
      prefix: 'edits/',
      jobId,
      urls,
      policy,
      timeoutMs: 20_000,
      ...overrides,
    });

  beforeAll(async () => {
    const [started] = await Promise.all([startMotoServer(), server.start()]);
    moto = started;
    // The same client factory Lambda uses, pointed at moto the way the local runtime does it.
    stubAwsEnvFor(moto.endpoint);
    s3 = createS3Client();
    s3.middlewareStack.add(
      (next, context) => (args) => {
        commands.push(context.commandName ?? '');
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    policy = { allowedHosts: ['127.0.0.1'], maxBytes: 50 * 1024 * 1024, allowLoopbackHttp: true };

    const [png, jpeg, webp, gif] = await Promise.all([
      image('png'),
      image('jpeg'),
      image('webp'),
      image('gif'),
    ]);
    server.files.set('a.png', { body: png, contentType: 'image/png' });
    server.files.set('b.jpg', { body: jpeg, contentType: 'image/jpeg' });
    // Served with a wrong type on purpose: the stored type must come from the bytes.
    server.files.set('c.webp', { body: webp, contentType: 'application/octet-stream' });
    server.files.set('d.gif', { body: gif, contentType: 'image/gif' });
    // Noise does not compress: a real PNG just over one multipart part.
    const big = await sharp({
      create: {
        width: 1800,
        height: 1700,
        channels: 3,
        background: '#000000',
        noise: { type: 'gaussian', mean: 128, sigma: 60 },
      },
    })
      .png({ compressionLevel: 0 })
      .toBuffer();
    server.files.set('big.png', { body: big, contentType: 'image/png' });
  });

  afterAll(async () => {
    vi.unstubAllEnvs();
    await Promise.all([moto?.stop(), server.stop()]);
  });

  it('copies four outputs at once, byte for byte, with hash, size, type and keys right', async () => {
    // Prepare: the server answers none of them until all four are open at the same time.
    server.barrier = { size: 4, waiting: [], open: 0, maxOpen: 0 };
    const names = ['a.png', 'b.jpg', 'c.webp', 'd.gif'];
    const jobId = nextJobId();

    // Act
    const stored = await copy(
      jobId,
      names.map((name) => server.url(`/barrier/${name}?X-Amz-Signature=secret`)),
    );

    // Assess
    expect(server.barrier.maxOpen).toBe(4);
    expect(stored.map((output) => [output.key, output.contentType])).toEqual([
      [`edits/${jobId}/0.png`, 'image/png'],
      [`edits/${jobId}/1.jpg`, 'image/jpeg'],
      [`edits/${jobId}/2.webp`, 'image/webp'],
      [`edits/${jobId}/3.gif`, 'image/gif'],
    ]);
    for (const [index, output] of stored.entries()) {
      const source = server.files.get(names[index]!)!.body;
      const object = await readObject(output.key);
      const head = await s3.send(
        new HeadObjectCommand({ Bucket: BUCKET, Key: output.key, ChecksumMode: 'ENABLED' }),
      );
      expect(object.bytes.equals(source)).toBe(true);
      expect(output).toMatchObject({
        index,
        bucket: BUCKET,
        s3Uri: `s3://${BUCKET}/${output.key}`,
        sizeBytes: source.length,
      });
      expect(output.sha256).toBe(createHash('sha256').update(source).digest('hex'));
      expect(object.ContentType).toBe(output.contentType);
      expect(object.Metadata).toEqual({
        sha256: output.sha256,
        'source-host': server.origin.slice('http://'.length),
      });
      expect(head.ChecksumSHA256).toBe(sha256Base64(output.sha256));
    }
  });

  it('streams an output larger than one part, its length declared, in one PutObject S3 checks', async () => {
    // Prepare
    const source = server.files.get('big.png')!.body;
    expect(source.length).toBeGreaterThan(PART_SIZE);
    const jobId = nextJobId();
    commands.length = 0;

    // Act
    const [output] = await copy(jobId, [server.url('/files/big.png')]);

    // Assess: one request; S3 verified the SDK's SHA-256 trailer and stores the whole object's hash.
    expect(commands).toEqual(['PutObjectCommand']);
    const object = await readObject(`edits/${jobId}/0.png`);
    expect(object.bytes.equals(source)).toBe(true);
    const sha256 = createHash('sha256').update(source).digest('hex');
    expect(output).toMatchObject({ sizeBytes: source.length, sha256, contentType: 'image/png' });
    const head = await s3.send(
      new HeadObjectCommand({ Bucket: BUCKET, Key: output!.key, ChecksumMode: 'ENABLED' }),
    );
    expect(head.ChecksumSHA256).toBe(sha256Base64(sha256));
    expect(object.Metadata).toEqual({ 'source-host': server.origin.slice('http://'.length) });
  });

  it('streams an output larger than one part through a multipart upload when its length is unknown', async () => {
    // Prepare
    const source = server.files.get('big.png')!.body;
    const jobId = nextJobId();
    commands.length = 0;

    // Act: chunked, so nothing tells the uploader the size up front.
    const [output] = await copy(jobId, [server.url('/chunked/big.png')]);

    // Assess: no CopyObject afterwards; the hash is on the returned output (the job record).
    expect(commands).toEqual([
      'CreateMultipartUploadCommand',
      'UploadPartCommand',
      'UploadPartCommand',
      'CompleteMultipartUploadCommand',
    ]);
    const object = await readObject(`edits/${jobId}/0.png`);
    expect(object.bytes.equals(source)).toBe(true);
    expect(output).toMatchObject({
      sizeBytes: source.length,
      sha256: createHash('sha256').update(source).digest('hex'),
    });
  });

  it('stores a small chunked output in one PutObject with its hash', async () => {
    // Prepare
    const source = server.files.get('a.png')!.body;
    const jobId = nextJobId();
    commands.length = 0;

    // Act
    const [output] = await copy(jobId, [server.url('/chunked/a.png')]);

    // Assess
    expect(commands).toEqual(['PutObjectCommand']);
    const object = await readObject(output!.key);
    expect(object.bytes.equals(source)).toBe(true);
    expect(object.Metadata?.sha256).toBe(output?.sha256);
  });

  it.each([
    ['larger than one part, streamed', 'big.png'],
    ['small, buffered', 'a.png'],
  ])('fails a download cut short (%s) as retryable, leaving no object', async (_case, name) => {
    // Prepare
    const jobId = nextJobId();

    // Act
    const error = await failureOf(copy(jobId, [server.url(`/truncated/${name}`)]));

    // Assess
    expect(error).toMatchObject({ reason: 'download_failed', retryable: true });
    expect(await listKeys(`edits/${jobId}/`)).toEqual([]);
  });

  it('overwrites the same keys when run again for the same job', async () => {
    // Prepare
    const jobId = nextJobId();
    const urls = [server.url('/files/a.png'), server.url('/files/b.jpg')];
    const first = await copy(jobId, urls);

    // Act
    const second = await copy(jobId, urls);

    // Assess
    expect(second).toEqual(first);
    expect(await listKeys(`edits/${jobId}/`)).toEqual([`edits/${jobId}/0.png`, `edits/${jobId}/1.jpg`]);
  });

  it('refuses a host the allowlist does not name, without contacting it', async () => {
    // Prepare: the same server, reached by a name the allowlist lacks.
    const requestsBefore = server.requested.length;
    const jobId = nextJobId();

    // Act
    const error = await failureOf(
      copy(jobId, [server.url('/files/a.png').replace('127.0.0.1', 'localhost')]),
    );

    // Assess
    expect(error.reason).toBe('host_not_allowed');
    expect(server.requested.length).toBe(requestsBefore);
  });

  it('refuses plain http when loopback http is not enabled', async () => {
    // Prepare
    const requestsBefore = server.requested.length;

    // Act
    const error = await failureOf(
      copy(nextJobId(), [server.url('/files/a.png')], { policy: { ...policy, allowLoopbackHttp: false } }),
    );

    // Assess
    expect(error.reason).toBe('insecure_url');
    expect(server.requested.length).toBe(requestsBefore);
  });

  it.each([
    ['declared by Content-Length', 'files'],
    ['only found while streaming', 'chunked'],
  ])('refuses an output over the size cap %s', async (_case, mode) => {
    // Prepare
    const jobId = nextJobId();

    // Act
    const error = await failureOf(
      copy(jobId, [server.url(`/${mode}/big.png`)], { policy: { ...policy, maxBytes: 1024 * 1024 } }),
    );

    // Assess
    expect(error.reason).toBe('too_large');
    expect(await listKeys(`edits/${jobId}/`)).toEqual([]);
  });

  it('refuses a body that is not an image even when served as image/png', async () => {
    // Prepare
    const jobId = nextJobId();

    // Act
    const error = await failureOf(copy(jobId, [server.url('/html/page')]));

    // Assess
    expect(error.reason).toBe('not_an_image');
    expect(await listKeys(`edits/${jobId}/`)).toEqual([]);
  });

  it('fails a missing output as download_failed, retryable (a file host may not be ready yet)', async () => {
    // Act
    const error = await failureOf(
      copy(nextJobId(), [server.url('/files/expired.png?X-Amz-Signature=secret')]),
    );

    // Assess
    expect(error).toMatchObject({
      reason: 'download_failed',
      retryable: true,
      httpStatus: 404,
      url: server.url('/files/expired.png'),
    });
    expect(error.message).toContain('404');
    expect(error.message).not.toContain('secret');
  });

  it('refuses to follow a redirect', async () => {
    // Prepare
    server.requested.length = 0;

    // Act
    const error = await failureOf(copy(nextJobId(), [server.url('/redirect/a.png')]));

    // Assess
    expect(error.reason).toBe('download_failed');
    expect(error.message).toContain('302');
    expect(server.requested).toEqual(['/redirect/a.png']);
  });

  it('deletes the outputs it already wrote when a later one fails', async () => {
    // Prepare: one at a time, so the first two are surely stored before the third fails.
    const jobId = nextJobId();
    const info = vi.fn();
    const log = { debug() {}, info, warn() {}, error() {} };

    // Act
    const error = await failureOf(
      copy(
        jobId,
        [server.url('/files/a.png'), server.url('/files/b.jpg'), server.url('/files/missing.png')],
        {
          concurrency: 1,
          log,
        },
      ),
    );

    // Assess
    expect(error.reason).toBe('download_failed');
    expect(info).toHaveBeenCalledTimes(2);
    expect(await listKeys(`edits/${jobId}/`)).toEqual([]);
  });

  it('aborts an output still in progress as soon as another fails', async () => {
    // Prepare: output 0 never answers; its own budget is far beyond the test's timeout.
    const jobId = nextJobId();

    // Act
    const error = await failureOf(
      copy(jobId, [server.url('/hang/a.png'), server.url('/files/missing.png')], { timeoutMs: 600_000 }),
    );

    // Assess
    expect(error.message).toContain('404');
    expect(await listKeys(`edits/${jobId}/`)).toEqual([]);
  });
});
