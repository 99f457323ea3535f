import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView } from '#core/jobs/job-view';
import { ENV, type SettingName } from '../../contract/index.ts';
import { RUNTIME_OWNED_SETTINGS } from '../../local/pipeline.ts';
import { RUNTIME_ENV } from '../../local/runtime-env.ts';
import { planFromEnvironment } from '../../local/start-environment.ts';
import { type IndependentRunComfy, startIndependentRunComfy } from '../support/independent-runcomfy.ts';
import { closeServer, listenOnLoopback } from '../support/loopback-server.ts';
import { type NpmStart, type StackDescription, spawnNpmStart } from '../support/npm-start.ts';

/*
 * The real `npm start`, pointed at a RunComfy-compatible server that is not the bundled
 * simulator (and shares no code with it or with the functions), configured only through the
 * environment, as a user would.
 */
const TOKEN = 'independent-token-0123456789';
const PROBE_LINE = /^RunComfy check: .*$/m;

let upstream: IndependentRunComfy;

beforeAll(async () => {
  upstream = await startIndependentRunComfy({ token: TOKEN });
});

afterAll(async () => {
  await upstream?.close();
});

/** Stops a runtime the way a user would and waits for npm to end. */
async function stop(started: NpmStart): Promise<void> {
  if (started.npm.exitCode === null) started.npm.kill('SIGTERM');
  await started.exited;
  await started.cleanUp();
}

async function waitForJob(apiUrl: string, id: string, timeoutMs = 30_000): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = (await (await fetch(`${apiUrl}/edits/${id}`)).json()) as JobView;
    if (!['queued', 'running'].includes(job.status)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status}: ${JSON.stringify(job)}`);
    await new Promise((wake) => setTimeout(wake, 250));
  }
}

describe('npm start with RUNCOMFY_BASE_URL at an independent RunComfy-compatible server', () => {
  let started: NpmStart;
  let stack: StackDescription;

  beforeAll(async () => {
    started = spawnNpmStart({
      [ENV.runComfyBaseUrl]: upstream.baseUrl,
      [ENV.runComfyApiToken]: TOKEN,
      [ENV.outputHostAllowlist]: '127.0.0.1',
      [ENV.jobDeadlineSeconds]: '120',
      // Owned by the runtime (it creates the table): reported and ignored, not passed on.
      [ENV.jobsTable]: 'someone-elses-table',
    });
    stack = await started.waitForStack();
  }, 90_000);

  afterAll(async () => {
    if (started) await stop(started);
  });

  it('says once that the server is reachable and took the token, never printing the token', async () => {
    // Act
    const [line] = await started.waitForOutput(PROBE_LINE);

    // Assess
    expect(line).toBe(`RunComfy check: ${upstream.baseUrl} is reachable and accepted the token.`);
    expect(started.output().match(new RegExp(PROBE_LINE, 'gm'))).toHaveLength(1);
    expect(started.output()).not.toContain(TOKEN);
    expect(stack.runComfy).toEqual({ baseUrl: upstream.baseUrl, simulated: false });
  });

  it('passes the settings on, except the ones the runtime owns', () => {
    // Assess
    const output = started.output();
    expect(output).toContain(
      `Settings from the environment: ${ENV.runComfyBaseUrl}, ${ENV.runComfyApiToken}, ${ENV.jobDeadlineSeconds}, ${ENV.outputHostAllowlist}`,
    );
    expect(output).toContain(`Ignoring ${ENV.jobsTable} from the environment`);
    expect(stack.table).not.toBe('someone-elses-table');
  });

  it('serves the web console next to the API, and says where', async () => {
    // Act
    const root = await fetch(`${stack.apiUrl}/`, { redirect: 'manual' });
    const page = await fetch(stack.consoleUrl);

    // Assess
    expect(stack.consoleUrl).toBe(`${stack.apiUrl}/console/`);
    expect(started.output()).toContain(`Web console   ${stack.consoleUrl}`);
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/console/');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script type="module" src="console.js"></script>');
  });

  it('runs a good edit to succeeded, with the very bytes the server served in the emulated S3', async () => {
    // Act
    const response = await fetch(`${stack.apiUrl}/edits`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        prompt: 'make the cup red',
        image_urls: ['https://inputs.example.com/cup.png'],
      }),
    });
    const submitted = (await response.json()) as JobView;
    const job = await waitForJob(stack.apiUrl, submitted.id);

    // Assess
    expect(response.status).toBe(202);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    // The deadline counts from admission (a moment after creation).
    const deadlineMs = Date.parse(job.deadline_at) - Date.parse(job.created_at);
    expect(deadlineMs).toBeGreaterThanOrEqual(120_000);
    expect(deadlineMs).toBeLessThan(130_000);
    const served = upstream.files.get(`${upstream.baseUrl}/files/outputs/${job.upstream_request_id}/0.png`);
    expect(served).toBeDefined();
    const [output] = job.outputs ?? [];
    expect(output).toMatchObject({ bucket: stack.bucket, content_type: 'image/png', sha256: served?.sha256 });
    const s3 = new S3Client({
      endpoint: stack.awsEndpoint,
      region: stack.region,
      forcePathStyle: true,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      const object = await s3.send(new GetObjectCommand({ Bucket: output?.bucket, Key: output?.key }));
      const bytes = Buffer.from(await object.Body!.transformToByteArray());
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(served?.sha256);
      expect(bytes.equals(served!.bytes)).toBe(true);
    } finally {
      s3.destroy();
    }
    expect(upstream.submissions).toBe(1);
  }, 60_000);
});

describe('npm start probing its upstream', () => {
  it('says when the server refuses the token, and keeps running', async () => {
    // Prepare
    const started = spawnNpmStart({
      [ENV.runComfyBaseUrl]: upstream.baseUrl,
      [ENV.runComfyApiToken]: 'refused-token-9876543210',
      [ENV.outputHostAllowlist]: '127.0.0.1',
    });

    try {
      // Act
      const [line] = await started.waitForOutput(PROBE_LINE);

      // Assess
      expect(line).toBe(
        `RunComfy check: ${upstream.baseUrl} is reachable, but the token was refused (HTTP 401): check ${ENV.runComfyApiToken}.`,
      );
      expect(started.output()).not.toContain('refused-token-9876543210');
      await started.waitForStack();
      expect(started.npm.exitCode).toBeNull();
    } finally {
      await stop(started);
    }
  }, 90_000);

  it('says when nothing listens at the address, and keeps running', async () => {
    // Prepare: a port that was just free and is closed again
    const closed = createServer();
    const address = await listenOnLoopback(closed);
    await closeServer(closed);
    const started = spawnNpmStart({ [ENV.runComfyBaseUrl]: address, [ENV.runComfyApiToken]: TOKEN });

    try {
      // Act
      const [line] = await started.waitForOutput(PROBE_LINE);

      // Assess
      expect(line).toMatch(
        new RegExp(`^RunComfy check: ${address} is unreachable \\(could not connect: .*ECONNREFUSED`),
      );
      await started.waitForStack();
      expect(started.npm.exitCode).toBeNull();
    } finally {
      await stop(started);
    }
  }, 90_000);
});

describe('npm start refusing its environment', () => {
  it.each([
    [
      'a setting the functions would refuse, naming the variable',
      { [ENV.jobDeadlineSeconds]: 'soon' },
      new RegExp(`Could not start the local pipeline: invalid configuration: ${ENV.jobDeadlineSeconds}: `),
    ],
    [
      `${ENV.runComfyBaseUrl} without a token, saying what to set`,
      { [ENV.runComfyBaseUrl]: 'http://127.0.0.1:9' },
      new RegExp(
        `${ENV.runComfyBaseUrl} is set but ${ENV.runComfyApiToken} is not: set ${ENV.runComfyApiToken} `,
      ),
    ],
  ])(
    'stops at once on %s',
    async (_, env, message) => {
      // Act
      const started = spawnNpmStart(env);
      const { code } = await started.exited;
      await started.cleanUp();

      // Assess
      expect(code).toBe(1);
      expect(started.output()).toMatch(message);
      expect(started.output()).not.toContain('Local pipeline ready');
    },
    60_000,
  );
});

describe('Function: planFromEnvironment', () => {
  it('hands the functions every setting that is set, except those the runtime owns', async () => {
    // Prepare
    const env = Object.fromEntries(Object.values(ENV).map((name) => [name, `value of ${name}`]));

    // Act
    const plan = await planFromEnvironment({ ...env, PORT: '0' });

    // Assess
    const owned: readonly SettingName[] = RUNTIME_OWNED_SETTINGS;
    const upstreamKeys: SettingName[] = ['runComfyBaseUrl', 'runComfyApiToken'];
    const passedOn = (Object.keys(ENV) as SettingName[]).filter(
      (key) => !owned.includes(key) && !upstreamKeys.includes(key),
    );
    expect(plan.options.env).toEqual(
      Object.fromEntries(passedOn.map((key) => [key, `value of ${ENV[key]}`])),
    );
    expect(plan.options.runComfy).toEqual({
      baseUrl: `value of ${ENV.runComfyBaseUrl}`,
      token: `value of ${ENV.runComfyApiToken}`,
    });
    const ignored = (Object.keys(ENV) as SettingName[]).filter((key) => owned.includes(key));
    expect(plan.notes.join('\n')).toContain(
      `Ignoring ${ignored.map((key) => ENV[key]).join(', ')} from the environment`,
    );
    expect(plan.passed).toHaveLength(Object.keys(ENV).length - owned.length);
  });

  it('takes an empty variable as unset and uses RunComfy’s own API for a token alone', async () => {
    // Act
    const plan = await planFromEnvironment({
      [ENV.runComfyApiToken]: 'token-only',
      [ENV.outputPrefix]: '',
      PORT: '0',
    });

    // Assess
    expect(plan.options.env).toEqual({});
    expect(plan.options.runComfy).toEqual({ baseUrl: 'https://model-api.runcomfy.net', token: 'token-only' });
    expect(plan.notes).toEqual([]);
  });
});

describe('README: Configuration (environment)', () => {
  it('documents every setting the functions and npm start read, once', () => {
    // Prepare
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('### Configuration (environment)'));

    // Act
    const documented = [...section.matchAll(/^\| `([A-Z0-9_]+)` +\|/gm)].map((match) => match[1]);

    // Assess
    expect(documented.sort()).toEqual([...Object.values(ENV), ...Object.values(RUNTIME_ENV)].sort());
  });
});
