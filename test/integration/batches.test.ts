import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import type { BatchView } from '#core/batches/batch-view';
import {
  batchCompletionsOf,
  batchJobsOf,
  callApi,
  editLine,
  readResults,
  waitForBatch,
} from '../support/batch-helpers.ts';
import { useLocalPipeline } from '../support/local-pipeline-fixture.ts';
import { s3Bytes, sha256 } from '../support/pipeline-helpers.ts';

/**
 * Inline batches end to end on the local runtime (moto + the simulator + the real handlers):
 * validation, job creation, completion with its results manifest and its one notification,
 * idempotency, and refusals naming lines and fields. Manifests: batches-manifest.test.ts.
 */
const fixture = useLocalPipeline({
  stackName: 'batches-test',
  // Chunks of 100 lines: a manifest of a few hundred lines is made in several.
  env: { adminScope: 'flux-edit/admin', batchChunkLines: 100 },
  simulator: { knobs: { queue_delay_s: 0.1, run_delay_s: 0.2, workers: 8 } },
});

const jobsOf = (batchId: string) => batchJobsOf(fixture.pipeline, batchId);
const completionsOf = (batchId: string) => batchCompletionsOf(fixture.notifications, batchId);

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
