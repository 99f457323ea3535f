import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import type { BatchView } from '#core/batches/batch-view';
import type { JobView } from '#core/jobs/job-view';
import { asCaller, invokeAs } from '../support/api-gateway-events.ts';
import { callApi, editLine, readResults, uploadManifest, waitForBatch } from '../support/batch-helpers.ts';
import { useLocalPipeline } from '../support/local-pipeline-fixture.ts';
import { PNG_INPUT, s3Bytes, sha256, waitUntil } from '../support/pipeline-helpers.ts';

/**
 * Batches end to end on the local runtime (moto + the simulator + the real handlers): inline and
 * manifest batches through validation, chunked job creation, counts, cancel and completion with
 * its results manifest and its one notification; refusals naming lines and fields; and batches
 * scoped to their caller like jobs.
 */
const fixture = useLocalPipeline({
  stackName: 'batches-test',
  // Chunks of 100 lines: a manifest of a few hundred lines is made in several.
  env: { adminScope: 'flux-edit/admin', batchChunkLines: 100 },
  simulator: { knobs: { queue_delay_s: 0.1, run_delay_s: 0.2, workers: 8 } },
});

const jobsOf = async (batchId: string) =>
  (
    await callApi<{ items: JobView[] }>(
      fixture.pipeline,
      'GET',
      `/edits?batch_id=${batchId}&limit=1000&sort=asc`,
    )
  ).body.items;

/** The batch's completion notifications, on EventBridge and on SNS. */
async function completionsOf(batchId: string) {
  const { notifications } = fixture;
  await notifications.collect(1_000);
  const events = notifications.events.filter(
    (event) =>
      event['detail-type'] === 'Edit Batch Completed' &&
      (event.detail as unknown as { batch_id?: string }).batch_id === batchId,
  );
  const sns = notifications.sns.filter(
    (message) => (JSON.parse(message.Message) as { batch_id?: string }).batch_id === batchId,
  );
  return { events, sns };
}

describe('Batches: an inline batch', () => {
  it('makes each line a job and, once all ended, writes the results manifest and notifies once', async () => {
    // Prepare: three lines, the second fails at RunComfy
    const requests = [editLine(1), editLine(2, { prompt: 'fails __FAIL__' }), editLine(3)];

    // Act
    const submitted = await callApi<BatchView>(fixture.pipeline, 'POST', '/batches', { requests });
    const seen: BatchView[] = [];
    const batch = await waitForBatch(fixture.pipeline, submitted.body.id, undefined, {
      seen: (view) => seen.push(view),
    });

    // Assess: accepted, then completed with its counts and cost
    expect(submitted.status).toBe(202);
    expect(submitted.headers.get('location')).toBe(`/batches/${submitted.body.id}`);
    expect(submitted.body).toMatchObject({ status: 'validating', source: 'inline', owner: 'local' });
    expect(batch).toMatchObject({
      status: 'completed',
      lines: 3,
      invalid_lines: 0,
      jobs_created: 3,
      counts: { pending: 0, queued: 0, running: 0, succeeded: 2, failed: 1, cancelled: 0, expired: 0 },
    });
    // Every look at it adds up: each valid line is pending, queued, running or ended, once.
    for (const view of seen.filter((each) => each.lines !== undefined)) {
      expect(Object.values(view.counts).reduce((sum, count) => sum + count, 0)).toBe(3);
    }

    // Assess: the jobs are normal jobs, listable by batch, each with its line and reference
    const jobs = await jobsOf(batch.id);
    expect(jobs.map((job) => [job.batch_line, job.caller_reference, job.status]).sort()).toEqual([
      [1, 'sku-1', 'succeeded'],
      [2, 'sku-2', 'failed'],
      [3, 'sku-3', 'succeeded'],
    ]);
    const cost = jobs.reduce((sum, job) => sum + (job.cost ?? 0), 0);
    expect(batch.cost).toBeCloseTo(cost, 6);

    // Assess: the results manifest, line by line, with the outputs' sha256 as stored
    expect(batch.results?.s3_uri).toBe(
      `s3://${fixture.pipeline.bucket}/edits/batches/${batch.id}/results.jsonl`,
    );
    const rows = await readResults(fixture.pipeline, batch);
    expect(rows.map((row) => [row.line, row.status, row.caller_reference])).toEqual([
      [1, 'succeeded', 'sku-1'],
      [2, 'failed', 'sku-2'],
      [3, 'succeeded', 'sku-3'],
    ]);
    for (const row of rows) {
      const job = jobs.find((each) => each.id === row.job_id);
      expect(row.cost).toBe(job?.cost);
      for (const output of row.outputs ?? []) {
        const [, bucket = '', key = ''] = /^s3:\/\/([^/]+)\/(.+)$/.exec(output.s3_uri) ?? [];
        expect(sha256(await s3Bytes(fixture.pipeline, bucket, key))).toBe(output.sha256);
      }
    }
    expect(rows[0]?.outputs).toHaveLength(1);
    expect(rows[1]?.error?.code).toBe('UPSTREAM_FAILED');
    const head = await fixture.pipeline.clients.s3.send(
      new HeadObjectCommand({
        Bucket: fixture.pipeline.bucket,
        Key: `edits/batches/${batch.id}/results.jsonl`,
      }),
    );
    expect(head.Metadata).toMatchObject({ owner: 'local', 'batch-id': batch.id });
    // And a link to it for an hour.
    const download = await fetch(batch.results?.url ?? '');
    expect((await download.text()).trim().split('\n')).toHaveLength(3);

    // Assess: one completion, on EventBridge and on SNS, with the counts and the cost
    const { events, sns } = await completionsOf(batch.id);
    expect(events).toHaveLength(1);
    expect(sns).toHaveLength(1);
    expect(events[0]?.detail).toMatchObject({
      event_id: `${batch.id}:completed`,
      type: 'edit.batch.completed',
      status: 'completed',
      batch_id: batch.id,
      owner: 'local',
      lines: 3,
      counts: { succeeded: 2, failed: 1, cancelled: 0, expired: 0 },
      results: { s3_uri: batch.results?.s3_uri },
    });
    expect((events[0]?.detail as unknown as { cost: number } | undefined)?.cost).toBeCloseTo(cost, 6);
    expect(sns[0]?.MessageAttributes).toMatchObject({
      event_type: { Value: 'edit.batch.completed' },
      batch_id: { Value: batch.id },
    });
  });

  it('replays an Idempotency-Key with the same body, and refuses it with another body', async () => {
    const body = { requests: [editLine(1, { prompt: 'idempotent __HOLD__' })] };
    const headers = { 'idempotency-key': `batch-${Date.now()}` };

    const first = await callApi<BatchView>(fixture.pipeline, 'POST', '/batches', body, headers);
    const again = await callApi<BatchView>(fixture.pipeline, 'POST', '/batches', body, headers);
    const other = await callApi(fixture.pipeline, 'POST', '/batches', { requests: [editLine(2)] }, headers);

    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(other.status).toBe(422);
    expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    await callApi(fixture.pipeline, 'POST', `/batches/${first.body.id}/cancel`);
    await waitForBatch(fixture.pipeline, first.body.id);
  });

  it('refuses bad lines with their line numbers and field paths, or skips them with on_invalid=skip', async () => {
    const requests = [
      editLine(1),
      { ...editLine(2), prompt: '' },
      { ...editLine(3), image_urls: ['http://example.com/cup.png'], imageSize: 'square' },
    ];

    // Act
    const refused = await callApi(fixture.pipeline, 'POST', '/batches', { requests });
    const skipped = await callApi<BatchView>(fixture.pipeline, 'POST', '/batches', {
      requests,
      on_invalid: 'skip',
    });
    const batch = await waitForBatch(fixture.pipeline, skipped.body.id);

    // Assess: refused at once, naming each line and field; nothing recorded
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('INVALID_REQUEST');
    expect(refused.body.errors).toEqual([
      { line: 2, path: 'requests/1/prompt', message: 'must not be empty' },
      { line: 3, path: 'requests/2/image_urls/0', message: expect.any(String) },
      { line: 3, path: 'requests/2', message: expect.any(String) },
    ]);
    // Assess: skipped, reported, and in the results as invalid
    expect(batch).toMatchObject({ status: 'completed', lines: 3, invalid_lines: 2, jobs_created: 1 });
    expect(batch.errors?.map((error) => [error.line, error.path])).toEqual([
      [2, 'prompt'],
      [3, 'image_urls/0'],
      [3, '(root)'],
    ]);
    const rows = await readResults(fixture.pipeline, batch);
    expect(rows.map((row) => [row.line, row.status])).toEqual([
      [1, 'succeeded'],
      [2, 'invalid'],
      [3, 'invalid'],
    ]);
    expect(rows[1]?.error?.issues).toEqual([{ path: 'prompt', message: 'must not be empty' }]);
    expect((await fetch(batch.invalid_lines_url ?? '')).status).toBe(200);
  });

  it('refuses a batch that names no lines, both kinds, or someone else’s manifest', async () => {
    const cases = [
      {},
      { requests: [] },
      { requests: [editLine(1)], manifest: 's3://x/y' },
      { manifest: `s3://${fixture.pipeline.bucket}/uploads/someone-else/edits.jsonl` },
      { requests: [editLine(1)], on_invalid: 'maybe' },
    ];
    const answers = await Promise.all(
      cases.map((body) => callApi(fixture.pipeline, 'POST', '/batches', body)),
    );
    expect(answers.map((answer) => answer.status)).toEqual([400, 400, 400, 400, 400]);
    expect(answers.map((answer) => (answer.body.errors as { path: string }[])[0]?.path)).toEqual([
      '(root)',
      'requests',
      '(root)',
      'manifest',
      'on_invalid',
    ]);
  });
});

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
