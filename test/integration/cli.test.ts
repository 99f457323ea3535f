import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalPipeline, startLocalPipeline } from '../../local/pipeline.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(REPO_ROOT, 'client', 'cli.ts');
const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');

let pipeline: LocalPipeline;
let dir: string;
let inputPng: string;

beforeAll(async () => {
  pipeline = await startLocalPipeline({
    stackName: 'cli-test',
    retryDelaySeconds: 1,
    waitTimeSeconds: 1,
    // Uploaded inputs reach the simulator as presigned URLs of moto, which is http on loopback.
    simulator: { knobs: { queue_delay_s: 0.3, run_delay_s: 0.5, workers: 2, allow_http_inputs: true } },
    extraEnv: { POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_METRICS_DISABLED: 'true' },
  });
  dir = await mkdtemp(join(tmpdir(), 'flux-edit-cli-e2e-'));
  inputPng = join(dir, 'cup.png');
  await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 40, b: 40 } } })
    .png()
    .toFile(inputPng);
});

afterAll(async () => {
  await pipeline?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * Runs `flux-edit` as a person would: a separate process, the API URL from the environment,
 * output on pipes (so progress is plain lines).
 */
function flux(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      TSX,
      [CLI, ...args],
      {
        cwd: dir,
        env: { ...process.env, FLUX_EDIT_API_URL: pipeline.apiUrl },
        timeout: 60_000,
      },
      (error, stdout, stderr) => {
        const status = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        done({ status, stdout, stderr });
      },
    );
  });
}

describe('CLI: flux-edit against the local runtime', () => {
  it('uploads a local image, edits it and saves the outputs as images', async () => {
    // Act
    const result = await flux([
      'edit',
      '--prompt',
      'make the cup blue',
      '--image',
      './cup.png',
      '--out',
      'out',
    ]);

    // Assess
    expect(result.stderr).toMatch(/uploaded \.\/cup\.png/);
    expect(result.status, result.stderr).toBe(0);
    const printed = result.stdout.trim().split('\n');
    expect(printed).toHaveLength(1);
    expect(printed[0]).toMatch(/^out\/[A-Za-z0-9_-]+-0\.png$/);
    expect(await readdir(join(dir, 'out'))).toEqual([printed[0]!.slice('out/'.length)]);
    const metadata = await sharp(join(dir, printed[0]!)).metadata();
    expect(metadata.format).toBe('png');
    expect(metadata.width).toBeGreaterThan(0);
    expect(result.stderr).toMatch(/submitted job \S+/);
    expect(result.stderr).toMatch(/succeeded \(waited \d+s\); 1 output\(s\) saved in out/);
  }, 90_000);

  it('exits non-zero with the job’s error code when the model fails', async () => {
    const result = await flux([
      'edit',
      '--prompt',
      'make it blue __FAIL__',
      '--image',
      './cup.png',
      '--out',
      'failed',
    ]);

    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/error: job \S+ failed: UPSTREAM_FAILED: /);
    expect(result.stdout).toBe('');
  }, 90_000);

  it('exits non-zero naming the invalid field when the API refuses the request', async () => {
    const result = await flux(['edit', '--prompt', 'p', '--image', './cup.png', '--guidance', '30']);

    expect(result.status).toBe(3);
    expect(result.stderr).toMatch(/\[INVALID_REQUEST, HTTP 400\]/);
    expect(result.stderr).toMatch(/^ {2}guidance_scale: /m);
  }, 90_000);
});
