import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchView } from '#core/batches/batch-view';
import type { JobView } from '#core/jobs/job-view';
import { editLine } from '../support/batch-helpers.ts';
import { useLocalPipeline } from '../support/local-pipeline-fixture.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(REPO_ROOT, 'client', 'cli.ts');
const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');

const fixture = useLocalPipeline({
  stackName: 'batches-cli-test',
  simulator: { knobs: { queue_delay_s: 0.1, run_delay_s: 0.3, workers: 4 } },
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flux-edit-batch-cli-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `flux-edit` as a person runs it: its own process, the API from the environment, output on pipes. */
function flux(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      TSX,
      [CLI, ...args],
      { cwd: dir, env: { ...process.env, FLUX_EDIT_API_URL: fixture.pipeline.apiUrl }, timeout: 90_000 },
      (error, stdout, stderr) => {
        done({ status: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

const jsonl = (lines: unknown[]) => `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`;

describe('CLI: flux-edit batch and list against the local runtime', () => {
  it('submits a JSONL file, shows its progress until it completes, then gets it and lists its jobs', async () => {
    // Prepare
    await writeFile(join(dir, 'edits.jsonl'), jsonl([editLine(1), editLine(2), editLine(3)]));

    // Act
    const submitted = await flux(['batch', 'submit', 'edits.jsonl']);
    const id = /submitted batch (\S+)/.exec(submitted.stderr)?.[1] ?? '';
    const got = await flux(['batch', 'get', id, '--json']);
    const shown = await flux(['batch', 'get', id]);
    const listed = await flux(['list', '--batch', id, '--status', 'succeeded', '--since', '1h', '--json']);
    const table = await flux(['list', '--since', '1h', '--limit', '2']);

    // Assess: submitted, followed, completed; the results manifest's link on stdout
    expect(submitted.status, submitted.stderr).toBe(0);
    expect(submitted.stderr).toMatch(new RegExp(`batch ${id}: (validating the manifest|\\[)`));
    expect(submitted.stderr).toMatch(/completed in \d+s: 3 succeeded, 0 did not; cost \$\d+\.\d{4}/);
    expect(submitted.stdout.trim()).toMatch(/^http:\/\/.*results\.jsonl\?/);
    const batch = JSON.parse(got.stdout) as BatchView;
    expect(batch).toMatchObject({ id, status: 'completed', counts: { succeeded: 3 } });
    expect(shown.stdout).toMatch(/^status {5}completed$/m);
    expect(shown.stdout).toMatch(/^jobs {7}3 succeeded/m);
    // Assess: the list, as JSON and as a table
    const jobs = JSON.parse(listed.stdout) as JobView[];
    expect(jobs.map((job) => job.caller_reference).sort()).toEqual(['sku-1', 'sku-2', 'sku-3']);
    expect(table.status).toBe(0);
    const rows = table.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^ID +STATUS +CREATED \(UTC\) +COST +REFERENCE +DETAIL$/);
    expect(rows).toHaveLength(3);
  }, 120_000);

  it('exits 1 with each bad line when the batch is refused, and 2 on bad filters', async () => {
    await writeFile(join(dir, 'bad.jsonl'), jsonl([editLine(1), { ...editLine(2), prompt: '' }]));

    const refused = await flux(['batch', 'submit', 'bad.jsonl']);
    const badStatus = await flux(['list', '--status', 'done']);
    const badSince = await flux(['list', '--since', 'yesterday']);

    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/was refused: INVALID_LINES: /);
    expect(refused.stderr).toMatch(/^ {2}line 2: prompt: must not be empty$/m);
    expect(badStatus.status).toBe(2);
    expect(badStatus.stderr).toMatch(/--status done is not one of/);
    expect(badSince.status).toBe(2);
  }, 120_000);
});
