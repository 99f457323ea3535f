import { describe, expect, it } from 'vitest';
import type { BatchView } from '#core/batches/batch-view';
import type { JobView } from '#core/jobs/job-view';
import {
  type Answer,
  callApi,
  editLine,
  readResults,
  uploadManifest,
  waitForBatch,
} from '../support/batch-helpers.ts';
import { useLocalPipeline } from '../support/local-pipeline-fixture.ts';
import { waitUntil } from '../support/pipeline-helpers.ts';

/**
 * Batches on the local runtime in JWT mode (a local issuer; tokens verified as API Gateway's JWT
 * authorizer does, the claims handed to the real handlers): two callers and an admin, over HTTP
 * only. A batch, its jobs and its results are its caller's, like jobs are.
 */
const fixture = useLocalPipeline({
  stackName: 'batches-auth-test',
  auth: { mode: 'jwt' },
  // Chunks of two lines: a batch of three is made in two messages.
  env: { batchChunkLines: 2 },
  simulator: { knobs: { queue_delay_s: 0.1, run_delay_s: 0.2, workers: 8 } },
});

const auth = () => fixture.pipeline.auth!;
const bearer = async (sub: string, scopes?: string[]) => ({
  authorization: `Bearer ${await auth().mint({ sub, ...(scopes ? { scopes } : {}) })}`,
});
const ownerOf = (sub: string) => `jwt:${auth().issuer}|${sub}`;
const UNKNOWN = 'f00dbabe-0000-4000-8000-000000000000';

/** A problem document without what names the id asked for. */
const shapeOf = (answer: Answer, id: string) => ({
  status: answer.status,
  body: JSON.parse(JSON.stringify(answer.body).replaceAll(id, '<id>')),
});

const list = async (query: string, headers: Record<string, string>) =>
  (await callApi<{ items: JobView[] }>(fixture.pipeline, 'GET', `/edits?${query}`, undefined, headers)).body
    .items;

describe('Batches in JWT mode: a batch belongs to its caller', () => {
  it('answers another caller 404 exactly as an unknown id; lists and results hold only the owner’s jobs; an admin sees all', async () => {
    // Prepare: alice's batch of three, bob's of two, an admin
    const [alice, bob, admin] = await Promise.all([bearer('alice'), bearer('bob'), bearer('ops', ['admin'])]);
    const [a, b] = await Promise.all([
      callApi<BatchView>(
        fixture.pipeline,
        'POST',
        '/batches',
        { requests: [editLine(1), editLine(2), editLine(3)] },
        alice,
      ),
      callApi<BatchView>(fixture.pipeline, 'POST', '/batches', { requests: [editLine(1), editLine(2)] }, bob),
    ]);
    expect([a.status, b.status]).toEqual([202, 202]);
    const [alicesBatch, bobsBatch] = await Promise.all([
      waitForBatch(fixture.pipeline, a.body.id, undefined, { headers: alice }),
      waitForBatch(fixture.pipeline, b.body.id, undefined, { headers: bob }),
    ]);
    expect(alicesBatch).toMatchObject({
      status: 'completed',
      owner: ownerOf('alice'),
      counts: { succeeded: 3 },
    });
    expect(bobsBatch).toMatchObject({ status: 'completed', owner: ownerOf('bob'), counts: { succeeded: 2 } });

    // Act & Assess: bob on alice's batch gets what an unknown id gets
    for (const [method, path] of [
      ['GET', '/batches/{id}'],
      ['POST', '/batches/{id}/cancel'],
    ] as const) {
      const foreign = await callApi(
        fixture.pipeline,
        method,
        path.replace('{id}', alicesBatch.id),
        undefined,
        bob,
      );
      const unknown = await callApi(fixture.pipeline, method, path.replace('{id}', UNKNOWN), undefined, bob);
      expect(foreign.status, `${method} ${path}`).toBe(404);
      expect(shapeOf(foreign, alicesBatch.id)).toEqual(shapeOf(unknown, UNKNOWN));
    }

    // Lists: alice's batch's jobs to alice (and the admin) only, whatever the filter
    expect(await list(`batch_id=${alicesBatch.id}&limit=1000`, bob)).toEqual([]);
    expect(await list(`batch_id=${alicesBatch.id}&status=succeeded&limit=1000`, bob)).toEqual([]);
    const bobsJobs = await list('limit=1000', bob);
    expect(bobsJobs.map((job) => job.batch_id).filter((id) => id === alicesBatch.id)).toEqual([]);
    expect(bobsJobs.every((job) => job.owner === ownerOf('bob'))).toBe(true);
    const alicesJobs = await list(`batch_id=${alicesBatch.id}&limit=1000&sort=asc`, alice);
    // A listing is in creation order; a batch's lines are created concurrently, so not in line order
    const byLine = alicesJobs.toSorted((a, b) => (a.batch_line ?? 0) - (b.batch_line ?? 0));
    expect(byLine.map((job) => [job.batch_line, job.owner])).toEqual([
      [1, ownerOf('alice')],
      [2, ownerOf('alice')],
      [3, ownerOf('alice')],
    ]);
    const adminsView = await list(`batch_id=${alicesBatch.id}&limit=1000`, admin);
    expect(adminsView.map((job) => job.id).sort()).toEqual(alicesJobs.map((job) => job.id).sort());

    // The admin reads alice's batch and is told why it cannot cancel it (not 404)
    const adminRead = await callApi<BatchView>(
      fixture.pipeline,
      'GET',
      `/batches/${alicesBatch.id}`,
      undefined,
      admin,
    );
    expect(adminRead.status).toBe(200);
    expect(adminRead.body).toMatchObject({ id: alicesBatch.id, owner: ownerOf('alice') });
    const adminCancel = await callApi(
      fixture.pipeline,
      'POST',
      `/batches/${alicesBatch.id}/cancel`,
      undefined,
      admin,
    );
    expect(adminCancel).toMatchObject({ status: 409, body: { code: 'NOT_CANCELLABLE' } });

    // Results: each batch's manifest holds its own jobs only
    const [alicesRows, bobsRows] = await Promise.all([
      readResults(fixture.pipeline, alicesBatch),
      readResults(fixture.pipeline, bobsBatch),
    ]);
    expect(alicesRows.map((row) => row.job_id).sort()).toEqual(alicesJobs.map((job) => job.id).sort());
    expect(bobsRows.map((row) => row.job_id)).not.toContain(alicesJobs[0]?.id);
    expect(bobsRows).toHaveLength(2);
    expect(new Set(alicesRows.map((row) => row.owner))).toEqual(new Set([ownerOf('alice')]));

    // The owner travels in the batch's completion (EventBridge rules can route on it)
    const completed = await waitUntil(async () => {
      const events = await fixture.pipeline.receiveObserved('events', { min: 1, timeoutMs: 1_000 });
      return events.find(
        (event) =>
          event['detail-type'] === 'Edit Batch Completed' &&
          (event.detail as { batch_id?: string }).batch_id === alicesBatch.id,
      );
    });
    expect(completed.detail).toMatchObject({ owner: ownerOf('alice'), counts: { succeeded: 3 } });
  });

  it('lets a batch name only its caller’s uploads, as its manifest or in a line; nothing is made', async () => {
    // Prepare: alice's manifest and image uploads; bob's own manifest naming alice's image on line 2
    const [alice, bob, admin] = await Promise.all([bearer('alice'), bearer('bob'), bearer('ops', ['admin'])]);
    const alicesManifest = await uploadManifest(fixture.pipeline, `${JSON.stringify(editLine(1))}\n`, alice);
    const ticket = await callApi<{ s3_uri: string }>(
      fixture.pipeline,
      'POST',
      '/uploads',
      { content_type: 'image/png', size_bytes: 10 },
      alice,
    );
    const alicesImage = ticket.body.s3_uri;
    const bobsManifest = await uploadManifest(
      fixture.pipeline,
      `${JSON.stringify(editLine(1))}\n${JSON.stringify(editLine(2, { image_urls: [alicesImage] }))}\n`,
      bob,
    );

    // Act
    const byBob = await callApi(fixture.pipeline, 'POST', '/batches', { manifest: alicesManifest }, bob);
    const byAdmin = await callApi(fixture.pipeline, 'POST', '/batches', { manifest: alicesManifest }, admin);
    const inline = await callApi(
      fixture.pipeline,
      'POST',
      '/batches',
      { requests: [editLine(1), editLine(2, { image_urls: [alicesImage] })] },
      bob,
    );
    const manifest = await callApi<BatchView>(
      fixture.pipeline,
      'POST',
      '/batches',
      { manifest: bobsManifest },
      bob,
    );
    const refused = await waitForBatch(fixture.pipeline, manifest.body.id, undefined, { headers: bob });

    // Assess: someone else's manifest is refused at once (an admin's submissions too: uploads are per caller)
    for (const answer of [byBob, byAdmin]) {
      expect(answer.status).toBe(400);
      expect(answer.body.errors).toEqual([expect.objectContaining({ path: 'manifest' })]);
    }
    // Assess: a line naming someone else's upload, by its line and field
    expect(inline.status).toBe(400);
    expect(inline.body.errors).toEqual([
      { line: 2, path: 'requests/1/image_urls/0', message: expect.any(String) },
    ]);
    expect(refused).toMatchObject({
      status: 'refused',
      error: { code: 'INVALID_LINES' },
      errors: [{ line: 2, path: 'image_urls/0' }],
      jobs_created: 0,
    });
    expect(await list(`batch_id=${refused.id}&limit=1000`, bob)).toEqual([]);
  });
});
