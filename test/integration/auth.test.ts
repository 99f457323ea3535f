import { generateKeyPair, importJWK, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import type { JobView } from '#core/jobs/job-view';
import { ownerKeyOf } from '#core/jobs/owner';
import { FluxEditClient } from '../../client/index.ts';
import { mintToken } from '../../local/jwt-token.ts';
import { useLocalPipeline } from '../support/local-pipeline-fixture.ts';
import { PNG_INPUT, waitUntil } from '../support/pipeline-helpers.ts';

/**
 * The local runtime in JWT mode: a local issuer, tokens verified as API Gateway's JWT authorizer
 * does, the verified claims handed to the very handlers a deployment runs. Two callers and an
 * admin, over HTTP only (what a deployment's callers can do).
 */
const fixture = useLocalPipeline({
  stackName: 'auth-test',
  auth: { mode: 'jwt' },
  simulator: { knobs: { queue_delay_s: 0.1, run_delay_s: 0.2, workers: 8 } },
});

const auth = () => fixture.pipeline.auth!;
const tokenFor = (sub: string, scopes?: string[]) => auth().mint({ sub, ...(scopes ? { scopes } : {}) });

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(
  method: string,
  path: string,
  token: string | undefined,
  body?: unknown,
): Promise<Answer> {
  const response = await fetch(`${fixture.pipeline.apiUrl}${path}`, {
    method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : {} };
}

async function finishedJob(token: string, body: Record<string, unknown>): Promise<JobView> {
  const submitted = await call('POST', '/edits', token, body);
  expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
  return waitUntil(async () => {
    const job = (await call('GET', `/edits/${submitted.body.id}`, token)).body as unknown as JobView;
    return ['queued', 'running'].includes(job.status) ? undefined : job;
  }, 25_000);
}

/** A problem document without what names the id asked for. */
const shapeOf = (answer: Answer, id: string) => ({
  status: answer.status,
  body: JSON.parse(JSON.stringify(answer.body).replaceAll(id, '<id>')),
});

describe('Local runtime in JWT mode: bad tokens', () => {
  it('refuses missing, wrong-audience, wrong-issuer, expired, future, tampered and foreign tokens with 401', async () => {
    // Prepare
    const { issuer, signingKey } = auth();
    const now = Math.floor(Date.now() / 1000);
    const valid = await tokenFor('mallory');
    const [header, payload, signature] = valid.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: 'alice' })).toString('base64url')}.${signature}`;
    const foreignKey = await generateKeyPair('RS256');
    const foreign = await new SignJWT({ sub: 'mallory' })
      .setProtectedHeader({ alg: 'RS256', kid: String(signingKey.kid) })
      .setIssuer(issuer)
      .setAudience(auth().audience[0]!)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(foreignKey.privateKey);
    const unsigned = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.`;
    const tokens: Record<string, string | undefined> = {
      missing: undefined,
      'not a JWT': 'not-a-jwt',
      'wrong audience': await auth().mint({ sub: 'mallory', audience: 'someone-else' }),
      'wrong issuer': await mintToken(signingKey, {
        issuer: 'https://issuer.example',
        audience: auth().audience[0]!,
        sub: 'mallory',
      }),
      expired: await auth().mint({ sub: 'mallory', issuedAt: now - 7200, expiresInSeconds: 3600 }),
      'issued in the future': await auth().mint({ sub: 'mallory', issuedAt: now + 600 }),
      tampered,
      'signed by another key': foreign,
      'alg none': unsigned,
    };

    for (const [name, token] of Object.entries(tokens)) {
      // Act
      const read = await call('GET', '/edits', token);
      const submit = await call('POST', '/edits', token, {
        prompt: `refused ${name}`,
        image_urls: [PNG_INPUT],
      });

      // Assess: problem+json with a stable code; no handler ran, nothing was recorded
      for (const answer of [read, submit]) {
        expect(answer.status, name).toBe(401);
        expect(answer.headers.get('content-type')).toBe('application/problem+json');
        expect(answer.body).toMatchObject({ status: 401, title: 'Unauthorized', code: 'UNAUTHORIZED' });
        expect(answer.headers.get('www-authenticate')).toBe(
          token === undefined ? 'Bearer' : 'Bearer error="invalid_token"',
        );
      }
    }
    const everything = await call('GET', '/edits?limit=1000', await tokenFor('ops', ['admin']));
    expect(
      (everything.body.items as JobView[]).filter((job) => job.input.prompt.startsWith('refused')),
    ).toEqual([]);
  });

  it('accepts a token without aud by its client_id, as API Gateway does, and with or without "Bearer"', async () => {
    // Prepare
    const { issuer, signingKey } = auth();
    const key = await importJWK(signingKey, 'RS256');
    const byClientId = await new SignJWT({ sub: 'service', client_id: auth().audience[0] })
      .setProtectedHeader({ alg: 'RS256', kid: String(signingKey.kid) })
      .setIssuer(issuer)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(key);

    // Act
    const answer = await call('GET', '/edits', byClientId);
    const bare = await fetch(`${fixture.pipeline.apiUrl}/edits`, {
      headers: { authorization: await tokenFor('x') },
    });

    // Assess
    expect(answer.status).toBe(200);
    expect(bare.status).toBe(200);
  });
});

describe('Local runtime in JWT mode: jobs belong to their caller', () => {
  it('answers another caller 404 on every route exactly as for an unknown id; an admin gets the job', async () => {
    // Prepare: alice's finished job (with outputs), bob's own job, an admin
    const [alice, bob, admin] = await Promise.all([
      tokenFor('alice'),
      tokenFor('bob'),
      tokenFor('ops', ['admin']),
    ]);
    const job = await finishedJob(alice, { prompt: 'alice’s cup', image_urls: [PNG_INPUT] });
    const bobs = await finishedJob(bob, { prompt: 'bob’s cup', image_urls: [PNG_INPUT] });
    expect(job.status).toBe('succeeded');
    expect(job.owner).toBe(`jwt:${auth().issuer}|alice`);
    expect(job.outputs?.[0]?.url).toMatch(/^http/);

    // Act & Assess: bob on each route of alice's job, and on an id nobody has
    const routes = [
      ['GET', '/edits/{id}'],
      ['POST', '/edits/{id}/cancel'],
      ['POST', '/edits/{id}/notifications/resend'],
      ['DELETE', '/edits/{id}'],
    ] as const;
    for (const [method, path] of routes) {
      const foreign = await call(method, path.replace('{id}', job.id), bob);
      const unknown = await call(method, path.replace('{id}', 'f00dbabe-0000-4000-8000-000000000000'), bob);
      expect(foreign.status, `${method} ${path}`).toBe(404);
      expect(shapeOf(foreign, job.id)).toEqual(shapeOf(unknown, 'f00dbabe-0000-4000-8000-000000000000'));
      expect(JSON.stringify(foreign.body)).not.toContain('X-Amz-Signature');
    }

    // Lists: each caller sees only their own, whatever the filter; the admin sees both
    for (const query of ['limit=1000', 'status=succeeded&limit=1000', 'sort=asc&limit=1000']) {
      const bobsList = (await call('GET', `/edits?${query}`, bob)).body.items as JobView[];
      const alicesList = (await call('GET', `/edits?${query}`, alice)).body.items as JobView[];
      expect(bobsList.map((item) => item.id)).toContain(bobs.id);
      expect(bobsList.every((item) => item.owner === `jwt:${auth().issuer}|bob`)).toBe(true);
      expect(alicesList.map((item) => item.id)).toContain(job.id);
      expect(alicesList.every((item) => item.owner === `jwt:${auth().issuer}|alice`)).toBe(true);
    }
    const adminList = (await call('GET', '/edits?limit=1000', admin)).body.items as JobView[];
    expect(adminList.map((item) => item.id)).toEqual(expect.arrayContaining([job.id, bobs.id]));

    // The admin acts on alice's job: reads it with fresh URLs, is told why it cannot cancel or
    // resend it (not 404), and deletes it
    const adminRead = await call('GET', `/edits/${job.id}`, admin);
    expect(adminRead.status).toBe(200);
    expect((adminRead.body as unknown as JobView).outputs?.[0]?.url).toMatch(/^http/);
    expect((await call('POST', `/edits/${job.id}/cancel`, admin)).body.code).toBe('NOT_CANCELLABLE');
    expect((await call('POST', `/edits/${job.id}/notifications/resend`, admin)).body.code).toBe(
      'NO_WEBHOOK_URL',
    );
    expect((await call('DELETE', `/edits/${job.id}`, admin)).status).toBe(204);
    expect((await call('GET', `/edits/${job.id}`, alice)).status).toBe(404);

    // The owner travels in the job's events (EventBridge rules can route on it)
    const completed = await waitUntil(async () => {
      const events = await fixture.pipeline.receiveObserved('events', { min: 1, timeoutMs: 1_000 });
      return events.find(
        (event) =>
          event['detail-type'] === 'Edit Job Completed' &&
          (event.detail as { job_id?: string }).job_id === job.id,
      );
    });
    expect(completed.detail).toMatchObject({ owner: `jwt:${auth().issuer}|alice` });
  });

  it('puts uploads under the caller’s hashed prefix; a submission may name only its caller’s uploads', async () => {
    // Prepare
    const [alice, bob, admin] = await Promise.all([
      tokenFor('alice'),
      tokenFor('bob'),
      tokenFor('ops', ['admin']),
    ]);

    // Act
    const ticket = await call('POST', '/uploads', alice, { content_type: 'image/png', size_bytes: 10 });
    const s3Uri = String(ticket.body.s3_uri);
    const byBob = await call('POST', '/edits', bob, { prompt: 'not mine', image_urls: [s3Uri] });
    const byAdmin = await call('POST', '/edits', admin, { prompt: 'not mine either', image_urls: [s3Uri] });
    const byAlice = await call('POST', '/edits', alice, { prompt: 'mine', image_urls: [s3Uri] });

    // Assess
    expect(ticket.status).toBe(201);
    const ownerKey = ownerKeyOf(`jwt:${auth().issuer}|alice`);
    expect(s3Uri).toMatch(new RegExp(`^s3://${fixture.pipeline.bucket}/uploads/${ownerKey}/`));
    expect(s3Uri).not.toContain('alice');
    for (const refused of [byBob, byAdmin]) {
      expect(refused.status).toBe(400);
      expect(refused.body.errors).toEqual([expect.objectContaining({ path: 'image_urls/0' })]);
    }
    expect(byAlice.status).toBe(202);
  });

  it('serves the typed client with a bearer token, end to end', async () => {
    // Prepare
    const client = new FluxEditClient({ apiUrl: fixture.pipeline.apiUrl, token: () => tokenFor('carol') });
    const stranger = new FluxEditClient({ apiUrl: fixture.pipeline.apiUrl, token: await tokenFor('dave') });
    const anonymous = new FluxEditClient({ apiUrl: fixture.pipeline.apiUrl, retry: { maxRetries: 0 } });

    // Act
    const submitted = await client.submit({ prompt: 'carol’s cup', image_urls: [PNG_INPUT] });
    const done = await client.waitFor(submitted.id, { pollIntervalMs: 200, timeoutMs: 25_000 });

    // Assess
    expect(done).toMatchObject({ status: 'succeeded', owner: `jwt:${auth().issuer}|carol` });
    await expect(stranger.get(submitted.id)).rejects.toMatchObject({ status: 404, code: 'NOT_FOUND' });
    await expect(anonymous.get(submitted.id)).rejects.toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
  });
});
