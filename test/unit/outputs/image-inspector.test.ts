import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { ImageInspector, OutputCopyError } from '#core/outputs/index';

const PNG_HEAD = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
const URL_WITH_SECRET = 'https://a.runcomfy.net/out.png?X-Amz-Signature=secret';

/** Collects what comes out, by reference: a test sink, not how production consumes the stream. */
const collect = () => {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  return { sink, chunks };
};

const reasonOf = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  return error instanceof OutputCopyError ? error.reason : error;
};

describe('Class: ImageInspector', () => {
  it('passes the bytes through unchanged and reports size, hash and type', async () => {
    // Prepare: the head arrives split over tiny chunks.
    const body = Buffer.concat([PNG_HEAD, Buffer.from('rest of the image')]);
    const pieces = [body.subarray(0, 1), body.subarray(1, 5), body.subarray(5, 13), body.subarray(13)];
    const inspector = new ImageInspector({ maxBytes: 1024, url: URL_WITH_SECRET });
    const { sink, chunks } = collect();

    // Act
    await pipeline(Readable.from(pieces), inspector, sink);

    // Assess
    expect(await inspector.imageType).toEqual({ contentType: 'image/png', extension: 'png' });
    expect(Buffer.concat(chunks)).toEqual(body);
    expect(inspector.sizeBytes).toBe(body.length);
    expect(inspector.sha256).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('refuses what is not an image, whatever it claims to be, and passes none of it on', async () => {
    // Prepare
    const inspector = new ImageInspector({ maxBytes: 1024, url: URL_WITH_SECRET });
    const { sink, chunks } = collect();

    // Act
    const piped = pipeline(
      Readable.from([Buffer.from('<html><body>Access denied</body></html>')]),
      inspector,
      sink,
    );

    // Assess
    expect(await reasonOf(inspector.imageType)).toBe('not_an_image');
    expect(await reasonOf(piped)).toBe('not_an_image');
    expect(chunks).toHaveLength(0);
  });

  it.each([
    ['empty', []],
    ['shorter than any signature', [Buffer.from([0xff, 0xd8, 0xff, 0xe0])]],
  ])('refuses a body that is %s', async (_name, pieces) => {
    // Prepare
    const inspector = new ImageInspector({ maxBytes: 1024, url: URL_WITH_SECRET });

    // Act
    const piped = pipeline(Readable.from(pieces), inspector, collect().sink);

    // Assess
    expect(await reasonOf(piped)).toBe('not_an_image');
    expect(await reasonOf(inspector.imageType)).toBe('not_an_image');
  });

  it('fails with too_large as soon as the cap is passed, without reading the rest', async () => {
    // Prepare: an endless PNG; only the cap can end it.
    let produced = 0;
    const endless = new Readable({
      read() {
        const chunk = produced === 0 ? Buffer.concat([PNG_HEAD, Buffer.alloc(1012)]) : Buffer.alloc(1024);
        produced += chunk.length;
        this.push(chunk);
      },
    });
    const inspector = new ImageInspector({ maxBytes: 10_000, url: URL_WITH_SECRET });

    // Act
    const piped = pipeline(endless, inspector, collect().sink);

    // Assess
    const error = await piped.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OutputCopyError);
    expect(error).toMatchObject({ reason: 'too_large', url: 'https://a.runcomfy.net/out.png' });
    expect((error as Error).message).not.toContain('secret');
    // The endless source was stopped: only stream read-ahead (a few 16 KiB buffers) past the cap.
    expect(produced).toBeLessThan(10_000 + 128 * 1024);
    expect(endless.destroyed).toBe(true);
  });

  it('accepts a body of exactly the cap', async () => {
    // Prepare
    const body = Buffer.concat([PNG_HEAD, Buffer.alloc(100 - PNG_HEAD.length)]);
    const inspector = new ImageInspector({ maxBytes: 100, url: URL_WITH_SECRET });

    // Act
    await pipeline(Readable.from([body]), inspector, collect().sink);

    // Assess
    expect(inspector.sizeBytes).toBe(100);
  });

  it('streams 30 MB through without buffering it: the source never runs far ahead of the consumer', async () => {
    // Prepare: a lazily generated 30 MB PNG-headed body in 64 KiB chunks, hashed as it is made.
    const total = 30 * 1024 * 1024;
    const chunkSize = 64 * 1024;
    const expectedHash = createHash('sha256');
    let produced = 0;
    let consumed = 0;
    let maxLead = 0;
    let largestChunkOut = 0;
    const source = new Readable({
      read() {
        if (produced >= total) {
          this.push(null);
          return;
        }
        const chunk = Buffer.alloc(Math.min(chunkSize, total - produced), produced & 0xff);
        if (produced === 0) PNG_HEAD.copy(chunk);
        expectedHash.update(chunk);
        produced += chunk.length;
        maxLead = Math.max(maxLead, produced - consumed);
        this.push(chunk);
      },
    });
    const inspector = new ImageInspector({ maxBytes: 50 * 1024 * 1024, url: URL_WITH_SECRET });
    // A slow consumer: one chunk per macrotask, so backpressure (not speed) bounds the lead.
    const sink = new Writable({
      highWaterMark: chunkSize,
      write(chunk: Buffer, _encoding, callback) {
        consumed += chunk.length;
        largestChunkOut = Math.max(largestChunkOut, chunk.length);
        setImmediate(callback);
      },
    });

    // Act
    await pipeline(source, inspector, sink);

    // Assess
    expect(consumed).toBe(total);
    expect(inspector.sizeBytes).toBe(total);
    expect(inspector.sha256).toBe(expectedHash.digest('hex'));
    // The inspector hands chunks on as they come; it never glues them into bigger buffers.
    expect(largestChunkOut).toBeLessThanOrEqual(chunkSize);
    // Only the streams' own high-water marks sit between producer and consumer: a few chunks,
    // never a meaningful share of the file.
    expect(maxLead).toBeLessThanOrEqual(8 * chunkSize);
  });

  it('rejects imageType when the source fails before the head arrives', async () => {
    // Prepare
    const inspector = new ImageInspector({ maxBytes: 1024, url: URL_WITH_SECRET });
    const failing = new Readable({
      read() {
        this.destroy(new Error('socket hang up'));
      },
    });

    // Act
    const piped = pipeline(failing, inspector, collect().sink);

    // Assess
    await expect(inspector.imageType).rejects.toThrow('socket hang up');
    await expect(piped).rejects.toThrow('socket hang up');
  });
});
