import { describe, expect, it } from 'vitest';
import type { BatchView } from '#core/batches/batch-view';
import type { JobView } from '#core/jobs/job-view';
import { asCaller, invokeAs } from '../support/api-gateway-events.ts';
import {
  batchCompletionsOf,
  batchJobsOf,
  callApi,
  editLine,
  readResults,
  uploadManifest,
  waitForBatch,
} from '../support/batch-helpers.ts';
import { useLocalPipeline } from '../support/local-pipeline-fixture.ts';
import { PNG_INPUT, waitUntil } from '../support/pipeline-helpers.ts';

/**
 * Manifest batches end to end on the local runtime: a few hundred lines validated line by line
 * and made in chunks, counts while jobs run and wait, cancel, refusals; and batches scoped to
 * their caller (API Gateway's authorizer context built by hand; over real JWTs:
 * batches-auth.test.ts).
 */
const fixture = useLocalPipeline({
  stackName: 'batches-manifest-test',
  // Chunks of 100 lines: a manifest of a few hundred lines is made in several.
  env: { adminScope: 'flux-edit/admin', batchChunkLines: 100 },
  simulator: { knobs: { queue_delay_s: 0.1, run_delay_s: 0.2, workers: 8 } },
});

const jobsOf = (batchId: string) => batchJobsOf(fixture.pipeline, batchId);
const completionsOf = (batchId: string) => batchCompletionsOf(fixture.notifications, batchId);

describe('Batches: a manifest of a few hundred lines', () => {
  it('validates it line by line, makes a job of every valid line in chunks, and completes', async () => {
    // Prepare: 300 lines (three chunks): a blank one and three bad ones
    const lines = Array.from({ length: 300 }, (_, index) =>
      JSON.stringify(editLine(index + 1, { prompt: `held ${index + 1} __HOLD__` })),
    );
    lines[6] = JSON.stringify({ image_urls: [PNG_INPUT] });
    lines[7] = '';
    lines[8] = '{"prompt": "unterminated';
    lines[9] = JSON.stringify(editLine(10, { image_urls: ['http://example.com/cup.png'] }));
    const manifest = await uploadManifest(fixture.pipeline, `${lines.join('\r\n')}\r\n`);

    // Act: submit, and cancel at once, while it is validated: its lines' jobs are made cancelled
    const submitted = await callApi<BatchView>(fixture.pipeline, 'POST', '/batches', {
      manifest,
      on_invalid: 'skip',
    });
    const cancelled = await callApi<BatchView>(
      fixture.pipeline,
      'POST',
      `/batches/${submitted.body.id}/cancel`,
    );
    const batch = await waitForBatch(fixture.pipeline, submitted.body.id, undefined, { timeoutMs: 120_000 });

    // Assess: validated line by line, every valid line a job, each counted once
    expect(submitted.status).toBe(202);
    expect(submitted.body).toMatchObject({ source: 'manifest', manifest });
    expect(cancelled.status).toBe(202);
    expect(cancelled.body.cancel_requested_at).toBeDefined();
    expect(batch).toMatchObject({
      status: 'completed',
      lines: 299,
      invalid_lines: 3,
      jobs_created: 296,
      counts: { pending: 0, queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 296, expired: 0 },
      cost: 0,
    });
    expect(batch.errors).toEqual([
      { line: 7, path: 'prompt', message: expect.any(String) },
      { line: 9, path: '(root)', message: 'is not valid JSON' },
      { line: 10, path: 'image_urls/0', message: expect.any(String) },
    ]);
    const jobs = await jobsOf(batch.id);
    expect(jobs).toHaveLength(296);
    expect(new Set(jobs.map((job) => job.batch_line)).size).toBe(296);
    expect(jobs.every((job) => job.status === 'cancelled' && job.cost === 0)).toBe(true);
    expect(jobs.find((job) => job.batch_line === 300)).toMatchObject({ caller_reference: 'sku-300' });
    const rows = await readResults(fixture.pipeline, batch);
    expect(rows).toHaveLength(299);
    expect(rows.map((row) => row.line)).toEqual([...rows.map((row) => row.line)].sort((a, b) => a - b));
    expect(rows.filter((row) => row.status === 'invalid').map((row) => row.line)).toEqual([7, 9, 10]);
    const again = await callApi(fixture.pipeline, 'POST', `/batches/${batch.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('NOT_CANCELLABLE');
  }, 150_000);

  it('counts its jobs while they run and wait, and cancels those that have not started', async () => {
    // Runs of 8 s: long enough for both to be seen running at once on a loaded machine.
    fixture.sim.setKnobs({ run_delay_s: 8 });
    try {
      // Prepare: 2 lines that run for a while, then 25 that RunComfy holds queued: the 18 slots
      // left of the upstream limit (20) are taken, the rest wait in line
      const slow = await callApi<BatchView>(fixture.pipeline, 'POST', '/batches', {
        requests: [editLine(1), editLine(2)],
      });
      const running = await waitUntil(async () => {
        const { body } = await callApi<BatchView>(fixture.pipeline, 'GET', `/batches/${slow.body.id}`);
        return body.counts.running === 2 ? body : undefined;
      }, 30_000);
      const held = await callApi<BatchView>(fixture.pipeline, 'POST', '/batches', {
        requests: Array.from({ length: 25 }, (_, index) =>
          editLine(index + 1, { prompt: `wait __HOLD__ ${index}` }),
        ),
      });
      const waiting = await waitForBatch(fixture.pipeline, held.body.id, ['active']);

      // Act: cancel the held batch
      const cancel = await callApi<BatchView>(fixture.pipeline, 'POST', `/batches/${held.body.id}/cancel`);
      const [cancelled, finished] = await Promise.all([
        waitForBatch(fixture.pipeline, held.body.id),
        waitForBatch(fixture.pipeline, slow.body.id),
      ]);

      // Assess: counts while running and waiting; every held job cancelled (waiting in line or
      // queued at RunComfy), none charged; the other batch untouched
      expect(running.counts).toMatchObject({ pending: 0, queued: 0, running: 2 });
      expect(waiting.counts).toMatchObject({ pending: 0, running: 0, queued: 25 });
      expect(cancel.status).toBe(202);
      expect(cancelled).toMatchObject({ counts: { cancelled: 25, queued: 0, running: 0 }, cost: 0 });
      expect(finished.counts).toMatchObject({ succeeded: 2 });
      expect((await completionsOf(held.body.id)).events).toHaveLength(1);
    } finally {
      fixture.sim.setKnobs({ run_delay_s: 0.2 });
    }
  }, 90_000);

  it('refuses a manifest with bad lines, naming them, or one that is not there', async () => {
    const manifest = await uploadManifest(
      fixture.pipeline,
      [JSON.stringify(editLine(1)), JSON.stringify({ ...editLine(2), guidance_scale: 50 })].join('\n'),
    );
    const missing = manifest.replace(/[^/]+$/, 'never-uploaded.jsonl');

    const refused = await callApi<BatchView>(fixture.pipeline, 'POST', '/batches', { manifest });
    const absent = await callApi<BatchView>(fixture.pipeline, 'POST', '/batches', { manifest: missing });
    const [bad, gone] = await Promise.all([
      waitForBatch(fixture.pipeline, refused.body.id),
      waitForBatch(fixture.pipeline, absent.body.id),
    ]);

    expect(bad).toMatchObject({
      status: 'refused',
      lines: 2,
      invalid_lines: 1,
      jobs_created: 0,
      error: { code: 'INVALID_LINES' },
      errors: [{ line: 2, path: 'guidance_scale', message: 'must be ≤ 20' }],
    });
    expect(await (await fetch(bad.invalid_lines_url ?? '')).text()).toBe(
      `${JSON.stringify({ line: 2, errors: [{ path: 'guidance_scale', message: 'must be ≤ 20' }] })}\n`,
    );
    expect(gone).toMatchObject({ status: 'refused', error: { code: 'MANIFEST_NOT_FOUND' } });
    expect(await jobsOf(bad.id)).toEqual([]);
  });
});

describe('Batches belong to their caller', () => {
  it('lets only the owner (and an admin) see or cancel a batch, and lists its jobs to them only', async () => {
    // Prepare: alice's batch
    const alice = { sub: 'alice' };
    const bob = { sub: 'bob' };
    const admin = { sub: 'ops', scope: 'openid flux-edit/admin' };
    const created = await invokeAs(
      fixture.pipeline,
      'jobs',
      asCaller('POST /batches', alice, { body: { requests: [editLine(1), editLine(2)] } }),
    );
    const id = String(created.body.id);
    await waitUntil(async () => {
      const { body } = await invokeAs(fixture.pipeline, 'jobs', asCaller('GET /batches/{id}', alice, { id }));
      return body.status === 'completed' ? body : undefined;
    }, 30_000);

    // Act & Assess: bob gets exactly what an unknown id gets
    for (const routeKey of ['GET /batches/{id}', 'POST /batches/{id}/cancel']) {
      const foreign = await invokeAs(fixture.pipeline, 'jobs', asCaller(routeKey, bob, { id }));
      const unknown = await invokeAs(
        fixture.pipeline,
        'jobs',
        asCaller(routeKey, bob, { id: 'no-such-batch' }),
      );
      expect(foreign.status).toBe(404);
      expect(foreign.body.code).toBe(unknown.body.code);
    }
    const bobsJobs = await invokeAs(
      fixture.pipeline,
      'jobs',
      asCaller('GET /edits', bob, { query: { batch_id: id } }),
    );
    expect(bobsJobs.body.items).toEqual([]);

    const own = await invokeAs(fixture.pipeline, 'jobs', asCaller('GET /batches/{id}', alice, { id }));
    expect(own.body).toMatchObject({ owner: 'jwt:https://issuer.example|alice', status: 'completed' });
    const alicesJobs = await invokeAs(
      fixture.pipeline,
      'jobs',
      asCaller('GET /edits', alice, { query: { batch_id: id } }),
    );
    expect((alicesJobs.body.items as JobView[]).map((job) => job.owner)).toEqual([
      'jwt:https://issuer.example|alice',
      'jwt:https://issuer.example|alice',
    ]);
    const adminRead = await invokeAs(fixture.pipeline, 'jobs', asCaller('GET /batches/{id}', admin, { id }));
    expect(adminRead.status).toBe(200);
    const rows = await readResults(fixture.pipeline, own.body as unknown as BatchView);
    expect(rows).toHaveLength(2);
  });
});
