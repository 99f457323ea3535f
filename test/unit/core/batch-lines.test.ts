import { describe, expect, it } from 'vitest';
import {
  allJobsEnded,
  type Batch,
  batchJobId,
  type ChunkTally,
  emptyTallies,
  totalsOf,
} from '../../../functions/core/batches/batch.ts';
import { batchCounts } from '../../../functions/core/batches/batch-view.ts';
import {
  checkInlineRequests,
  checkLine,
  MAX_LINE_BYTES,
  type ManifestLine,
  splitLines,
  validateManifest,
} from '../../../functions/core/batches/lines.ts';
import type { EditChecks } from '../../../functions/core/jobs/check-edit.ts';

const checks: EditChecks = {
  policy: {
    allowed: [{ bucket: 'stack-bucket', prefix: 'uploads/' }],
    uploads: { bucket: 'stack-bucket', prefix: 'uploads/' },
  },
  ownerKey: 'owner-a',
  webhooks: false,
  allowLoopbackHttp: false,
};

const edit = (n: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ prompt: `edit ${n}`, image_urls: ['https://example.com/cup.png'], ...extra });

/** `text` as a stream cut into pieces of `size` bytes (a line may be cut anywhere, mid-character too). */
async function* pieces(text: string, size: number): AsyncGenerator<Uint8Array> {
  const bytes = Buffer.from(text);
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}

async function collect(lines: AsyncIterable<ManifestLine>): Promise<ManifestLine[]> {
  const all: ManifestLine[] = [];
  for await (const line of lines) all.push(line);
  return all;
}

describe('Function: splitLines', () => {
  it('numbers the lines and gives each its exact bytes, however the stream is cut', async () => {
    // Prepare: LF and CRLF endings, a multi-byte character, a blank line, no final newline
    const text = 'first\r\nsecönd\n\nlast';

    for (const size of [1, 2, 3, 7, 1024]) {
      // Act
      const lines = await collect(splitLines(pieces(text, size)));

      // Assess
      expect(lines.map(({ line, text: content }) => [line, content])).toEqual([
        [1, 'first'],
        [2, 'secönd'],
        [3, ''],
        [4, 'last'],
      ]);
      const bytes = Buffer.from(text);
      for (const line of lines) {
        expect(
          bytes
            .subarray(line.start, line.end)
            .toString()
            .replace(/\r?\n$/, ''),
        ).toBe(line.text);
      }
    }
  });

  it('goes on from a line and byte where a chunk starts, and cuts a line longer than the limit', async () => {
    const text = 'c\nd\n';
    const lines = await collect(splitLines(pieces(text, 1), { line: 40, byte: 1_000 }));
    expect(lines).toEqual([
      { line: 40, text: 'c', start: 1_000, end: 1_002 },
      { line: 41, text: 'd', start: 1_002, end: 1_004 },
    ]);

    const [long] = await collect(splitLines(pieces(`${'x'.repeat(MAX_LINE_BYTES + 10)}\n`, 4096)));
    expect(long?.text).toHaveLength(MAX_LINE_BYTES);
    expect(long?.end).toBe(MAX_LINE_BYTES + 11);
  });
});

describe('Function: checkLine', () => {
  it('names the field of every problem, JSON first', () => {
    expect(checkLine('{"prompt": ', checks)).toEqual({
      ok: false,
      issues: [{ path: '(root)', message: 'is not valid JSON' }],
    });
    const bad = checkLine(edit(1, { image_urls: ['s3://stack-bucket/uploads/owner-b/x.png'] }), checks);
    expect(bad).toEqual({
      ok: false,
      issues: [{ path: 'image_urls/0', message: 'this s3:// location is not allowed as an input' }],
    });
    expect(checkLine(edit(1, { webhook_url: 'https://hooks.example.com/' }), checks)).toMatchObject({
      ok: false,
      issues: [{ path: 'webhook_url' }],
    });
    expect(checkLine(edit(1, { caller_reference: 'sku-1' }), checks)).toMatchObject({
      ok: true,
      caller: { callerReference: 'sku-1' },
    });
  });
});

describe('Function: validateManifest', () => {
  it('reports each bad line by number and path, skips blank lines, and plans chunks of valid lines', async () => {
    // Prepare: 7 lines: 5 valid, 1 blank, 1 bad
    const text = [edit(1), edit(2), '', edit(4, { guidance_scale: 99 }), edit(5), edit(6), edit(7)].join(
      '\n',
    );

    // Act
    const report = await validateManifest(splitLines(pieces(text, 5)), checks, {
      maxLines: 100,
      chunkLines: 2,
    });

    // Assess
    expect(report).toMatchObject({ requests: 6, invalidLines: 1, tooManyLines: false });
    expect(report.issues).toEqual([{ line: 4, path: 'guidance_scale', message: 'must be ≤ 20' }]);
    expect(report.chunks.map(({ chunk, lines, fromLine }) => [chunk, lines, fromLine])).toEqual([
      [0, 2, 1],
      [1, 2, 5],
      [2, 1, 7],
    ]);
    // A chunk's bytes hold exactly its lines (a bad or blank line between them is re-read and skipped).
    const bytes = Buffer.from(text);
    const second = report.chunks[1]!;
    expect(bytes.subarray(second.start, second.end).toString().trim().split('\n')).toEqual([
      edit(5),
      edit(6),
    ]);
  });

  it('stops reading past the line limit', async () => {
    const text = [edit(1), edit(2), edit(3)].join('\n');
    const report = await validateManifest(splitLines(pieces(text, 64)), checks, {
      maxLines: 2,
      chunkLines: 10,
    });
    expect(report.tooManyLines).toBe(true);
  });
});

describe('Function: checkInlineRequests', () => {
  it('gives each issue its line and its path in the request body', () => {
    const issues = checkInlineRequests(
      [JSON.parse(edit(1)), { prompt: 'x' }, JSON.parse(edit(3, { extra: true }))],
      checks,
    );
    expect(issues).toEqual([
      { line: 2, path: 'requests/1/image_urls', message: expect.any(String) },
      { line: 3, path: 'requests/2', message: expect.any(String) },
    ]);
  });
});

describe('Function: batchJobId', () => {
  it('is the same for the same batch and line, different otherwise, and shaped like a UUID', () => {
    const id = batchJobId('batch-1', 17);
    expect(batchJobId('batch-1', 17)).toBe(id);
    expect(batchJobId('batch-1', 18)).not.toBe(id);
    expect(batchJobId('batch-2', 17)).not.toBe(id);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('Function: batchCounts', () => {
  const batch: Batch = {
    id: 'b',
    status: 'active',
    owner: 'local',
    ownerKey: 'k',
    source: 'inline',
    onInvalid: 'skip',
    createdAt: '',
    updatedAt: '',
    lines: 12,
    invalidLines: 2,
    created: 8,
    chunkCount: 3,
    chunksEnded: [0],
  };
  const chunk = (index: number, tallies: Partial<ChunkTally['tallies']>, cost = 0): ChunkTally => {
    const all = { ...emptyTallies(), ...tallies };
    return {
      chunk: index,
      jobs: 4,
      ended: Object.values(all).reduce((a, b) => a + b, 0),
      tallies: all,
      cost,
    };
  };

  it('adds the chunks up, takes the running jobs from their own count, and the rest is queued or pending', () => {
    const totals = totalsOf([chunk(0, { succeeded: 3, failed: 1 }, 0.03), chunk(1, { cancelled: 1 }, 0)]);
    expect(totals).toEqual({
      ended: 5,
      tallies: { succeeded: 3, failed: 1, cancelled: 1, expired: 0 },
      cost: 0.03,
    });
    expect(batchCounts(batch, totals, 2)).toEqual({
      pending: 2,
      queued: 1,
      running: 2,
      succeeded: 3,
      failed: 1,
      cancelled: 1,
      expired: 0,
    });
    // Never negative, whatever the index says a moment later.
    expect(batchCounts(batch, totals, 9)).toMatchObject({ queued: 0, running: 3 });
  });

  it('ends the batch when every chunk’s jobs ended, once it is active', () => {
    expect(allJobsEnded(batch)).toBe(false);
    expect(allJobsEnded({ ...batch, chunksEnded: [0, 1, 2] })).toBe(true);
    expect(allJobsEnded({ ...batch, status: 'creating', chunksEnded: [0, 1, 2] })).toBe(false);
    expect(allJobsEnded({ ...batch, chunkCount: 0, chunksEnded: [] })).toBe(true);
  });
});
