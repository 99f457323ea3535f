import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { JobView } from '#core/jobs/job-view';
import { asCaller } from '../support/api-gateway-events.ts';
import { useLocalPipeline } from '../support/local-pipeline-fixture.ts';
import { PNG_INPUT, postEdit, waitForJob, waitUntil } from '../support/pipeline-helpers.ts';

/**
 * Jobs as a resource: listing with filters and a cursor that stays correct while jobs arrive,
 * deleting, and every route scoped to the caller (API Gateway's JWT authorizer context, as the
 * deployed functions get it, is built here by hand; the local runtime's own JWT mode is tested
 * in auth.test.ts).
 */
const fixture = useLocalPipeline({
  stackName: 'jobs-resource-test',
  env: { adminScope: 'flux-edit/admin' },
  simulator: { knobs: { queue_delay_s: 0.1, run_delay_s: 0.2, workers: 8 } },
});

interface Page {
  items: JobView[];
  next_token?: string;
}

async function list(query: string): Promise<{ status: number; body: Page & Record<string, unknown> }> {
  const response = await fetch(`${fixture.pipeline.apiUrl}/edits?${query}`);
  return { status: response.status, body: (await response.json()) as Page & Record<string, unknown> };
}

/** Every page of a listing, following the cursor. */
async function listAll(query: string, between?: () => Promise<void>): Promise<JobView[]> {
  const jobs: JobView[] = [];
  let token: string | undefined;
  do {
    const page = await list(`${query}${token ? `&next_token=${encodeURIComponent(token)}` : ''}`);
    expect(page.status).toBe(200);
    jobs.push(...page.body.items);
    token = page.body.next_token;
    await between?.();
  } while (token);
  return jobs;
}

async function submitAndFinish(body: Record<string, unknown>): Promise<JobView> {
  const submitted = await postEdit(fixture.pipeline, body);
  expect(submitted.status).toBe(202);
  return waitForJob(fixture.pipeline, String(submitted.body.id));
}

describe('Jobs as a resource: GET /edits', () => {
  it('lists newest first, filters, and pages without gaps or repeats while new jobs arrive', async () => {
    // Prepare: five finished jobs of two references, one failed
    const made: JobView[] = [];
    for (const [index, reference] of ['a', 'b', 'a', 'b', 'a'].entries()) {
      made.push(
        await submitAndFinish({
          prompt: index === 3 ? 'fails __FAIL__' : `list me ${index}`,
          image_urls: [PNG_INPUT],
          caller_reference: `ref-${reference}`,
        }),
      );
    }
    const since = made[0]!.created_at;

    // Act: pages of two, with a new job submitted between pages
    const paged = await listAll(`limit=2&created_after=${since}`, async () => {
      await postEdit(fixture.pipeline, { prompt: 'arrives meanwhile', image_urls: [PNG_INPUT] });
    });

    // Assess: every job made before the listing exactly once, newest first; newcomers never interleave
    const ids = made.map((job) => job.id);
    const seen = paged.map((job) => job.id).filter((id) => ids.includes(id));
    expect(seen).toEqual([...ids].reverse());
    expect(new Set(paged.map((job) => job.id)).size).toBe(paged.length);

    const failed = await list(`status=failed&created_after=${since}`);
    expect(failed.body.items.map((job) => job.id)).toEqual([made[3]!.id]);
    const several = await list(`status=failed,succeeded&created_after=${since}&sort=asc`);
    expect(several.body.items.slice(0, 5).map((job) => job.id)).toEqual(ids);
    const byReference = await list('caller_reference=ref-b');
    expect(byReference.body.items.map((job) => job.id)).toEqual([made[3]!.id, made[1]!.id]);
    const range = await list(
      `created_after=${made[1]!.created_at}&created_before=${made[3]!.created_at}&sort=asc`,
    );
    expect(range.body.items.map((job) => job.id)).toEqual([made[1]!.id, made[2]!.id]);
    // No presigned URLs in a listing.
    expect(paged.flatMap((job) => job.outputs ?? []).every((output) => output.url === undefined)).toBe(true);
  });

  it('refuses a forged or altered cursor, and bad filters, with 400 naming the parameter', async () => {
    await submitAndFinish({ prompt: 'one', image_urls: [PNG_INPUT] });
    await submitAndFinish({ prompt: 'two', image_urls: [PNG_INPUT] });
    const first = await list('limit=1');
    const token = first.body.next_token!;

    const tampered = await list(`limit=1&next_token=${encodeURIComponent(`x${token.slice(1)}`)}`);
    const otherFilter = await list(`limit=1&status=failed&next_token=${encodeURIComponent(token)}`);
    const bad = await list('status=done&limit=5000&sort=sideways');

    expect(tampered.status).toBe(400);
    expect(tampered.body.errors).toEqual([expect.objectContaining({ path: 'next_token' })]);
    expect(otherFilter.status).toBe(400);
    expect(bad.status).toBe(400);
    expect((bad.body.errors as { path: string }[]).map((error) => error.path).sort()).toEqual([
      'limit',
      'sort',
      'status',
    ]);
  });
});

describe('Jobs as a resource: DELETE /edits/{id}', () => {
  it('deletes a finished job and its outputs, idempotently, and announces it', async () => {
    const job = await submitAndFinish({ prompt: 'delete me', image_urls: [PNG_INPUT] });
    const key = job.outputs![0]!.key;

    const first = await fetch(`${fixture.pipeline.apiUrl}/edits/${job.id}`, { method: 'DELETE' });
    const again = await fetch(`${fixture.pipeline.apiUrl}/edits/${job.id}`, { method: 'DELETE' });
    const read = await fetch(`${fixture.pipeline.apiUrl}/edits/${job.id}`);
    const unknown = await fetch(`${fixture.pipeline.apiUrl}/edits/never-seen`, { method: 'DELETE' });

    expect([first.status, again.status, read.status, unknown.status]).toEqual([204, 204, 404, 404]);
    await expect(
      fixture.pipeline.clients.s3.send(new HeadObjectCommand({ Bucket: fixture.pipeline.bucket, Key: key })),
    ).rejects.toThrow();
    const listed = await listAll('limit=1000');
    expect(listed.map((item) => item.id)).not.toContain(job.id);
    const deleted = await waitUntil(async () => {
      const events = await fixture.pipeline.receiveObserved('events', { min: 1, timeoutMs: 1_000 });
      return events.find(
        (event) =>
          event['detail-type'] === 'Edit Job Deleted' &&
          (event.detail as { job_id?: string }).job_id === job.id,
      );
    });
    expect(deleted.detail).toMatchObject({ type: 'edit.job.deleted', event_id: `${job.id}:deleted` });
  });

  it('lists queued and running jobs from their shared status partition, and from the partitions older tables used', async () => {
    fixture.sim.setKnobs({ clock_mode: 'manual' });
    try {
      // Prepare: a job RunComfy holds in its queue (ours: queued), and one as a table written
      // before the shared partition would hold it (its own `queued` partition).
      const submitted = await postEdit(fixture.pipeline, { prompt: 'stays queued', image_urls: [PNG_INPUT] });
      const id = String(submitted.body.id);
      await waitUntil(async () =>
        (await list('status=queued')).body.items.some((job) => job.id === id) ? true : undefined,
      );
      const legacy = await postEdit(fixture.pipeline, {
        prompt: 'legacy partition',
        image_urls: [PNG_INPUT],
      });
      const legacyId = String(legacy.body.id);
      const dynamo = new DynamoDBClient({
        endpoint: fixture.pipeline.awsEndpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      });
      await dynamo.send(
        new UpdateItemCommand({
          TableName: fixture.pipeline.table,
          Key: { pk: { S: `job#${legacyId}` } },
          UpdateExpression: 'SET listStatus = :queued',
          ExpressionAttributeValues: { ':queued': { S: 'queued' } },
        }),
      );
      dynamo.destroy();

      // Act
      const queued = await list('status=queued');
      const running = await list('status=running');
      const both = await list('status=queued,running');

      // Assess: each once, where its status says
      const ids = (page: typeof queued) => page.body.items.map((job) => job.id);
      expect(ids(queued)).toEqual(expect.arrayContaining([id, legacyId]));
      expect(ids(running)).not.toContain(id);
      expect(
        ids(both)
          .filter((seen) => seen === id || seen === legacyId)
          .sort(),
      ).toEqual([id, legacyId].sort());
    } finally {
      fixture.sim.reset();
    }
  });

  it('refuses to delete an active job (cancel it first)', async () => {
    fixture.sim.setKnobs({ clock_mode: 'manual' });
    try {
      const submitted = await postEdit(fixture.pipeline, { prompt: 'still queued', image_urls: [PNG_INPUT] });
      const response = await fetch(`${fixture.pipeline.apiUrl}/edits/${submitted.body.id}`, {
        method: 'DELETE',
      });
      expect(response.status).toBe(409);
      expect(await response.json()).toMatchObject({ code: 'JOB_ACTIVE' });
    } finally {
      fixture.sim.reset();
    }
  });
});

const call = async (name: 'submit' | 'jobs', event: APIGatewayProxyEventV2) =>
  (await fixture.pipeline.invoke(name, event)) as APIGatewayProxyStructuredResultV2;

describe('Jobs belong to their caller', () => {
  it('lets only the owner (and an admin) see, list, cancel, resend or delete a job', async () => {
    // Prepare: alice's job
    const alice = { sub: 'alice' };
    const bob = { sub: 'bob' };
    const admin = { sub: 'ops', scope: 'openid flux-edit/admin' };
    const created = await call(
      'submit',
      asCaller('POST /edits', alice, { body: { prompt: 'mine', image_urls: [PNG_INPUT] } }),
    );
    const id = (JSON.parse(String(created.body)) as JobView).id;
    await waitForJob(fixture.pipeline, id);

    // Act & Assess: bob gets exactly what an unknown id gets
    for (const routeKey of [
      'GET /edits/{id}',
      'POST /edits/{id}/cancel',
      'POST /edits/{id}/notifications/resend',
      'DELETE /edits/{id}',
    ]) {
      const foreign = await call('jobs', asCaller(routeKey, bob, { id }));
      const unknown = await call('jobs', asCaller(routeKey, bob, { id: 'no-such-job' }));
      expect(foreign.statusCode).toBe(404);
      expect(JSON.parse(String(foreign.body)).code).toBe(JSON.parse(String(unknown.body)).code);
    }
    const bobsList = JSON.parse(
      String((await call('jobs', asCaller('GET /edits', bob, { query: { limit: '1000' } }))).body),
    ) as Page;
    expect(bobsList.items.map((job) => job.id)).not.toContain(id);

    const own = JSON.parse(
      String((await call('jobs', asCaller('GET /edits/{id}', alice, { id }))).body),
    ) as JobView;
    expect(own.owner).toBe('jwt:https://issuer.example|alice');
    const adminRead = await call('jobs', asCaller('GET /edits/{id}', admin, { id }));
    expect(adminRead.statusCode).toBe(200);
    const adminList = JSON.parse(
      String((await call('jobs', asCaller('GET /edits', admin, { query: { limit: '1000' } }))).body),
    ) as Page;
    expect(adminList.items.map((job) => job.id)).toContain(id);
    expect((await call('jobs', asCaller('DELETE /edits/{id}', admin, { id }))).statusCode).toBe(204);
  });

  it('keeps idempotency keys and uploads per caller', async () => {
    const body = { prompt: 'same key', image_urls: [PNG_INPUT] };
    const headers = { 'content-type': 'application/json', 'idempotency-key': 'shared-key' };
    const a = await call('submit', { ...asCaller('POST /edits', { sub: 'carol' }, { body }), headers });
    const b = await call('submit', { ...asCaller('POST /edits', { sub: 'dave' }, { body }), headers });
    expect(JSON.parse(String(a.body)).id).not.toBe(JSON.parse(String(b.body)).id);

    const ticket = JSON.parse(
      String(
        (
          await call(
            'jobs',
            asCaller(
              'POST /uploads',
              { sub: 'carol' },
              { body: { content_type: 'image/png', size_bytes: 10 } },
            ),
          )
        ).body,
      ),
    ) as { s3_uri: string };
    const refused = await call(
      'submit',
      asCaller('POST /edits', { sub: 'dave' }, { body: { prompt: 'x', image_urls: [ticket.s3_uri] } }),
    );
    const accepted = await call(
      'submit',
      asCaller('POST /edits', { sub: 'carol' }, { body: { prompt: 'x', image_urls: [ticket.s3_uri] } }),
    );
    expect(refused.statusCode).toBe(400);
    expect(JSON.parse(String(refused.body)).errors).toEqual([
      expect.objectContaining({ path: 'image_urls/0' }),
    ]);
    expect(accepted.statusCode).toBe(202);
  });
});
