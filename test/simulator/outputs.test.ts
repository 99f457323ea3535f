import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { startSimulator } from '../../simulator/index.ts';
import { apiClient, download, useManualSimulator, VALID_INPUT } from './helpers.ts';

const MAGIC = {
  png: (bytes: Buffer) =>
    bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  jpeg: (bytes: Buffer) => bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff,
  webp: (bytes: Buffer) =>
    bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP',
};

describe('Class: OutputFiles (output hosting, §3.7)', () => {
  const ctx = useManualSimulator();

  const finishedOutput = async (input: object) => {
    const id = await ctx.api.submitOk(input);
    ctx.sim.admin.advance(1_000);
    const output = (await ctx.api.result(id)).body.output as { image?: string; images?: string[] };
    return { id, urls: output.images ?? [output.image!] };
  };

  it.each([
    ['png', 'square_hd', 'image/png', 1024, 1024],
    ['jpeg', 'landscape_16_9', 'image/jpeg', 1024, 576],
    ['webp', 'portrait_4_3', 'image/webp', 768, 1024],
    ['png', 'square', 'image/png', 512, 512],
    ['jpeg', 'landscape_4_3', 'image/jpeg', 1024, 768],
  ] as const)('serves %s at the %s preset size without auth', async (format, size, type, width, height) => {
    // Prepare
    const { urls } = await finishedOutput({ ...VALID_INPUT, output_format: format, image_size: size });

    // Act
    const file = await download(urls[0]!);

    // Assess
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe(type);
    expect(Number(file.headers.get('content-length'))).toBe(file.bytes.length);
    expect(MAGIC[format](file.bytes)).toBe(true);
    expect(await sharp(file.bytes).metadata()).toMatchObject({ format, width, height });
  });

  it('defaults to a 1024x1024 png', async () => {
    // Act
    const { id, urls } = await finishedOutput(VALID_INPUT);
    const meta = await sharp((await download(urls[0]!)).bytes).metadata();

    // Assess
    expect(urls[0]).toBe(`${ctx.sim.filesBaseUrl}/outputs/${id}/0.png`);
    expect(meta).toMatchObject({ format: 'png', width: 1024, height: 1024 });
  });

  it('renders the same bytes for the same seed, prompt and image_urls, and different bytes otherwise', async () => {
    // Prepare
    const input = { ...VALID_INPUT, seed: 1234, image_size: 'square' };
    const [a, b, c] = [
      await finishedOutput(input),
      await finishedOutput(input),
      await finishedOutput({ ...input, prompt: 'something else' }),
    ];

    // Act
    const [bytesA, bytesB, bytesC] = await Promise.all(
      [a, b, c].map(async (job) => (await download(job.urls[0]!)).bytes),
    );

    // Assess
    expect(a.id).not.toBe(b.id);
    expect(bytesA!.equals(bytesB!)).toBe(true);
    expect(bytesA!.equals(bytesC!)).toBe(false);
  });

  it('serves output_count files, each a valid image', async () => {
    // Prepare
    ctx.sim.admin.setKnobs({ output_count: 3 });

    // Act
    const { id, urls } = await finishedOutput({
      ...VALID_INPUT,
      output_format: 'webp',
      image_size: 'square',
    });
    const metas = await Promise.all(urls.map(async (url) => sharp((await download(url)).bytes).metadata()));

    // Assess
    expect(urls).toEqual([0, 1, 2].map((n) => `${ctx.sim.filesBaseUrl}/outputs/${id}/${n}.webp`));
    for (const meta of metas) expect(meta).toMatchObject({ format: 'webp', width: 512, height: 512 });
  });

  it.each(['png', 'jpeg', 'webp'] as const)(
    'output_min_bytes pads a %s to 25 MB that still decodes fully',
    async (format) => {
      // Prepare
      const minBytes = 25 * 1024 * 1024;
      ctx.sim.admin.setKnobs({ output_min_bytes: minBytes });
      const { urls } = await finishedOutput({ ...VALID_INPUT, output_format: format, image_size: 'square' });

      // Act
      const file = await download(urls[0]!);
      const decoded = await sharp(file.bytes).raw().toBuffer({ resolveWithObject: true });

      // Assess
      expect(file.bytes.length).toBeGreaterThanOrEqual(minBytes);
      expect(file.bytes.length).toBeLessThan(minBytes + 64 * 1024);
      expect(MAGIC[format](file.bytes)).toBe(true);
      expect(decoded.info).toMatchObject({ width: 512, height: 512 });
      expect(ctx.sim.admin.stats().file_bytes_served).toBe(file.bytes.length);
    },
  );

  it('answers HEAD with the headers only', async () => {
    // Prepare
    const { urls } = await finishedOutput({ ...VALID_INPUT, image_size: 'square' });
    const full = await download(urls[0]!);

    // Act
    const head = await download(urls[0]!, 'HEAD');

    // Assess
    expect(head.status).toBe(200);
    expect(head.bytes.length).toBe(0);
    expect(head.headers.get('content-length')).toBe(String(full.bytes.length));
  });

  it('answers 404 for unfinished jobs, wrong extensions, indexes out of range and unknown ids', async () => {
    // Prepare
    const { id, urls } = await finishedOutput(VALID_INPUT);
    ctx.sim.admin.setKnobs({ queue_delay_s: 100 });
    const queued = await ctx.api.submitOk();
    const base = `${ctx.sim.filesBaseUrl}/outputs`;

    // Act
    const statuses = await Promise.all(
      [
        `${base}/${queued}/0.png`,
        urls[0]!.replace('.png', '.jpg'),
        `${base}/${id}/1.png`,
        `${base}/${crypto.randomUUID()}/0.png`,
      ].map(async (url) => (await download(url)).status),
    );

    // Assess
    expect(statuses).toEqual([404, 404, 404, 404]);
  });
});

describe('Function: startSimulator (filesBaseUrl)', () => {
  it('names outputs under a configured files base URL and serves them under its path', async () => {
    // Prepare
    const sim = await startSimulator({
      filesBaseUrl: 'https://playgrounds-storage-public.runcomfy.net/sim/',
      knobs: { clock_mode: 'manual', queue_delay_s: 0, run_delay_s: 0 },
    });
    const api = apiClient(sim);

    try {
      // Act
      const id = await api.submitOk({ ...VALID_INPUT, image_size: 'square' });
      const url = ((await api.result(id)).body.output as { image: string }).image;
      const file = await download(
        url.replace('https://playgrounds-storage-public.runcomfy.net', sim.baseUrl),
      );

      // Assess
      expect(url).toBe(`https://playgrounds-storage-public.runcomfy.net/sim/outputs/${id}/0.png`);
      expect(file.status).toBe(200);
    } finally {
      await sim.close();
    }
  });
});
