import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView } from '#core/jobs/job-view';
import { planFromEnvironment } from '../../local/start-environment.ts';
import { type NpmStart, type StackDescription, spawnNpmStart } from '../support/npm-start.ts';
import { PNG_INPUT } from '../support/pipeline-helpers.ts';

/*
 * The real `API_AUTH=jwt npm start` and `npm run token`, as a user runs them: the runtime
 * describes its issuer in the stack file and leaves its signing key beside it for this user only;
 * the token command mints from it for the running issuer, and refuses once the runtime is gone.
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const run = promisify(execFile);

interface AuthStack extends StackDescription {
  auth: {
    mode: 'jwt';
    issuer: string;
    audience: string[];
    jwksUri: string;
    openIdConfigurationUrl: string;
    adminScope: string;
    signingKeyFile: string;
  };
}

/** `npm run -s token -- …` against the runtime of `stackFile`: its stdout, stderr and exit code. */
async function npmRunToken(stackFile: string, args: string[]) {
  try {
    const { stdout, stderr } = await run('npm', ['run', '-s', 'token', '--', ...args], {
      cwd: ROOT,
      env: { ...process.env, LOCAL_STACK_FILE: stackFile },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('API_AUTH=jwt npm start, with npm run token', () => {
  let started: NpmStart;
  let stack: AuthStack;

  beforeAll(async () => {
    started = spawnNpmStart({ API_AUTH: 'jwt', LOCAL_JWT_AUDIENCE: 'edits-local,second-audience' });
    stack = (await started.waitForStack()) as AuthStack;
  }, 90_000);

  afterAll(async () => {
    if (started.npm.exitCode === null) started.npm.kill('SIGTERM');
    await started.exited;
    await started.cleanUp();
  });

  it('describes its issuer in the stack file and serves the discovery document and keys on loopback', async () => {
    // Assess
    expect(stack.auth).toMatchObject({
      mode: 'jwt',
      audience: ['edits-local', 'second-audience'],
      adminScope: 'admin',
      jwksUri: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/\.well-known\/jwks\.json$/),
    });
    const discovery = (await (await fetch(stack.auth.openIdConfigurationUrl)).json()) as Record<
      string,
      unknown
    >;
    expect(discovery).toMatchObject({ issuer: stack.auth.issuer, jwks_uri: stack.auth.jwksUri });
    const jwks = (await (await fetch(stack.auth.jwksUri)).json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys).toEqual([expect.objectContaining({ kty: 'RSA', alg: 'RS256', use: 'sig' })]);
    expect(jwks.keys[0]).not.toHaveProperty('d');
    // The private key is for this user alone.
    expect(statSync(stack.auth.signingKeyFile).mode & 0o777).toBe(0o600);
    expect(started.output()).toContain('TOKEN=$(npm run -s token -- --sub alice)');
  });

  it('mints tokens the runtime accepts; without one, the API answers 401', async () => {
    // Act
    const alice = await npmRunToken(started.stackFile, ['--sub', 'alice']);
    const ops = await npmRunToken(started.stackFile, [
      '--sub',
      'ops',
      '--scope',
      'admin',
      '--expires-in',
      '10m',
    ]);
    const elsewhere = await npmRunToken(started.stackFile, ['--sub', 'alice', '--aud', 'not-this-api']);

    // Assess
    expect(alice.code, alice.stderr).toBe(0);
    expect(alice.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const submitted = await fetch(`${stack.apiUrl}/edits`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(alice.stdout.trim()) },
      body: JSON.stringify({ prompt: 'make the cup red', image_urls: [PNG_INPUT] }),
    });
    expect(submitted.status).toBe(202);
    const job = (await submitted.json()) as JobView;
    expect(job.owner).toBe(`jwt:${stack.auth.issuer}|alice`);

    const anonymous = await fetch(`${stack.apiUrl}/edits/${job.id}`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ code: 'UNAUTHORIZED' });
    const wrongAudience = await fetch(`${stack.apiUrl}/edits/${job.id}`, {
      headers: bearer(elsewhere.stdout.trim()),
    });
    expect(wrongAudience.status).toBe(401);

    const claims = JSON.parse(Buffer.from(ops.stdout.split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({ sub: 'ops', scope: 'admin', aud: 'edits-local', iss: stack.auth.issuer });
    expect(claims.exp - claims.iat).toBe(600);
    const adminRead = await fetch(`${stack.apiUrl}/edits/${job.id}`, { headers: bearer(ops.stdout.trim()) });
    expect(adminRead.status).toBe(200);
  });

  it('refuses bad usage with exit 2', async () => {
    // Act
    const noSubject = await npmRunToken(started.stackFile, ['--scope', 'admin']);
    const badDuration = await npmRunToken(started.stackFile, ['--sub', 'a', '--expires-in', 'soon']);

    // Assess
    expect(noSubject).toMatchObject({ code: 2, stdout: '' });
    expect(noSubject.stderr).toContain('--sub is required');
    expect(badDuration.code).toBe(2);
  });

  it('removes the signing key when it stops; npm run token then says the runtime is gone', async () => {
    // Act
    started.npm.kill('SIGTERM');
    await started.exited;
    const after = await npmRunToken(started.stackFile, ['--sub', 'alice']);

    // Assess
    expect(existsSync(stack.auth.signingKeyFile)).toBe(false);
    expect(after).toMatchObject({ code: 1, stdout: '' });
    expect(after.stderr).toMatch(/no local runtime is described at .*API_AUTH=jwt npm start/);
  }, 30_000);
});

describe('Function: planFromEnvironment (API_AUTH)', () => {
  it('turns API_AUTH=jwt and its issuer and audiences into the auth option', async () => {
    const plan = await planFromEnvironment({
      API_AUTH: 'jwt',
      LOCAL_JWT_ISSUER: 'https://issuer.example/',
      LOCAL_JWT_AUDIENCE: 'a, b',
      PORT: '0',
    });

    expect(plan.options.auth).toEqual({
      mode: 'jwt',
      issuer: 'https://issuer.example/',
      audience: ['a', 'b'],
    });
    expect((await planFromEnvironment({ PORT: '0' })).options.auth).toBeUndefined();
    expect((await planFromEnvironment({ API_AUTH: '', PORT: '0' })).options.auth).toBeUndefined();
  });

  it.each([
    [{ API_AUTH: 'oauth' }, /API_AUTH must be none or jwt/],
    [{ LOCAL_JWT_AUDIENCE: 'a' }, /apply with API_AUTH=jwt only/],
    [{ API_AUTH: 'jwt', LOCAL_JWT_ISSUER: 'not a url' }, /LOCAL_JWT_ISSUER must be a URL/],
    [{ API_AUTH: 'jwt', LOCAL_JWT_AUDIENCE: ' , ' }, /LOCAL_JWT_AUDIENCE must name an audience/],
  ])('refuses %o', async (env, message) => {
    await expect(planFromEnvironment({ ...env, PORT: '0' })).rejects.toThrow(message);
  });
});
