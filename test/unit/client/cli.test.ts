import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CliIo, EXIT, runCli, USAGE } from '../../../client/commands.ts';
import { type FakeApi, OUTPUT_BYTES, startFakeApi } from './fake-api.ts';

const PNG = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.alloc(64, 1),
]);

let api: FakeApi;
let dir: string;

beforeEach(async () => {
  api = await startFakeApi();
  dir = await mkdtemp(join(tmpdir(), 'flux-edit-cli-'));
  await writeFile(join(dir, 'cup.png'), PNG);
});

afterEach(async () => {
  await api.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs the CLI in-process against the fake API, from `dir`, capturing its output. */
async function run(
  argv: string[],
  options: { env?: Record<string, string>; ctrlCWhileWaiting?: boolean } = {},
) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  let interrupt: (() => void) | undefined;
  const io: CliIo = {
    stdout: { write: (text: string) => stdout.push(text), isTTY: false },
    stderr: {
      write: (text: string) => {
        stderr.push(text);
        // The first progress line means the CLI is waiting: the moment a person presses Ctrl-C.
        if (options.ctrlCWhileWaiting && text.startsWith('job ') && text.includes(' · ')) interrupt?.();
      },
      isTTY: false,
    },
    env: options.env ?? { FLUX_EDIT_API_URL: api.url },
    cwd: dir,
    repoRoot: dir,
    pollIntervalMs: 1,
    onInterrupt(handler) {
      interrupt = handler;
      return () => {
        interrupt = undefined;
      };
    },
  };
  const status = await runCli(argv, io);
  return { status, stdout: stdout.join(''), stderr: stderr.join('') };
}

describe('Function: runCli (edit)', () => {
  it('uploads local images, submits, waits and downloads, printing the saved paths', async () => {
    // Act
    const result = await run([
      'edit',
      '--prompt',
      'make the cup red',
      '--image',
      './cup.png',
      '--image',
      'https://example.com/saucer.png',
      '--size',
      'landscape_4_3',
      '--format',
      'png',
      '--seed',
      '42',
      '--guidance',
      '3.5',
      '--out',
      'out',
    ]);

    // Assess
    expect(result.status).toBe(EXIT.ok);
    expect(result.stdout).toBe(`${join('out', 'job1-0.png')}\n`);
    expect((await readFile(join(dir, 'out', 'job1-0.png'))).equals(OUTPUT_BYTES)).toBe(true);
    const submit = api.requests.find((request) => request.path === '/edits')!;
    expect(submit.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
    const body = JSON.parse(submit.body.toString());
    expect(body).toEqual({
      prompt: 'make the cup red',
      image_urls: [
        expect.stringMatching(/^s3:\/\/uploads-bucket\/uploads\/.+\/cup\.png$/),
        'https://example.com/saucer.png',
      ],
      image_size: 'landscape_4_3',
      output_format: 'png',
      seed: 42,
      guidance_scale: 3.5,
    });
    expect(api.uploads.get(body.image_urls[0])?.body.equals(PNG)).toBe(true);
    expect(result.stderr).toContain('uploaded ./cup.png (72 B)');
    expect(result.stderr).toContain('submitted job job1');
    expect(result.stderr).toContain('job job1: queued, position 2');
    expect(result.stderr).toContain('job job1: copying outputs');
    expect(result.stderr).toMatch(/job job1 succeeded \(waited \d+s\); 1 output\(s\) saved in out/);
  });

  it('prints the job and the files as JSON with --json', async () => {
    const result = await run([
      'edit',
      '--prompt',
      'p',
      '--image',
      'https://example.com/a.png',
      '--out',
      dir,
      '--json',
    ]);

    expect(result.status).toBe(EXIT.ok);
    const printed = JSON.parse(result.stdout);
    expect(printed.job).toMatchObject({ id: 'job1', status: 'succeeded' });
    expect(printed.files).toEqual([join(dir, 'job1-0.png')]);
  });

  it('returns at once with --no-wait, printing the job id', async () => {
    const result = await run(['edit', '--prompt', 'p', '--image', 'https://example.com/a.png', '--no-wait']);

    expect(result.status).toBe(EXIT.ok);
    expect(result.stdout).toBe('job1\n');
    expect(result.stderr).toContain('follow it with: flux-edit wait job1 --out .');
    expect(api.requests.filter((request) => request.method === 'GET')).toHaveLength(0);
  });

  it('exits 1 with the job’s error code and message when the job fails', async () => {
    const result = await run(['edit', '--prompt', 'p __FAIL__', '--image', 'https://example.com/a.png']);

    expect(result.status).toBe(EXIT.failed);
    expect(result.stderr).toContain('error: job job1 failed: UPSTREAM_FAILED: the model failed\n');
    expect(result.stdout).toBe('');
  });

  it('exits 3 with the problem detail and each field error when the API refuses the request', async () => {
    const result = await run([
      'edit',
      '--prompt',
      'p',
      '--image',
      'https://example.com/a.png',
      '--guidance',
      '30',
    ]);

    expect(result.status).toBe(EXIT.api);
    expect(result.stderr).toBe(
      'error: the edit request is invalid [INVALID_REQUEST, HTTP 400]\n  guidance_scale: must be ≤ 20\n',
    );
  });

  it('explains usage mistakes before sending anything', async () => {
    const cases: [string[], RegExp][] = [
      [['edit', '--image', 'https://example.com/a.png'], /--prompt is required/],
      [['edit', '--prompt', 'p'], /at least one --image/],
      [
        [
          'edit',
          '--prompt',
          'p',
          '--image',
          'a',
          '--image',
          'b',
          '--image',
          'c',
          '--image',
          'd',
          '--image',
          'e',
        ],
        /at most 4/,
      ],
      [
        ['edit', '--prompt', 'p', '--image', 'https://e.com/a.png', '--seed', '1.5'],
        /--seed must be an integer/,
      ],
      [
        ['edit', '--prompt', 'p', '--image', 'https://e.com/a.png', '--guidance', 'lots'],
        /--guidance must be a number/,
      ],
      [['edit', '--prompt', 'p', '--colour', 'red'], /Unknown option '--colour'/],
      [['status', 'job1', '--prompt', 'p'], /--prompt is not an option of status/],
      [['status'], /usage: flux-edit status <job id>/],
      [['frobnicate'], /unknown command: frobnicate/],
    ];
    for (const [argv, message] of cases) {
      const result = await run(argv);
      expect(result.status, argv.join(' ')).toBe(EXIT.usage);
      expect(result.stderr, argv.join(' ')).toMatch(message);
    }
    expect(api.requests).toHaveLength(0);
  });

  it('refuses a local file that is not an image', async () => {
    await writeFile(join(dir, 'notes.txt'), 'hello, not an image');

    const result = await run(['edit', '--prompt', 'p', '--image', 'notes.txt']);

    expect(result.status).toBe(EXIT.usage);
    expect(result.stderr).toMatch(/notes\.txt is not a recognised image; upload a PNG, JPEG or WebP image/);
  });
});

describe('Function: runCli (status, cancel, wait)', () => {
  it('shows a job', async () => {
    await run(['edit', '--prompt', 'make it red', '--image', 'https://example.com/a.png', '--no-wait']);

    const result = await run(['status', 'job1']);

    expect(result.status).toBe(EXIT.ok);
    expect(result.stdout).toMatch(/^job {7}job1\nstatus {4}queued, position 2\nprompt {4}make it red\n/);
  });

  it('exits 3 for an unknown job', async () => {
    const result = await run(['status', 'nope']);

    expect(result.status).toBe(EXIT.api);
    expect(result.stderr).toBe('error: no job with id nope [NOT_FOUND, HTTP 404]\n');
  });

  it('cancels a queued job and refuses a started one with not_cancellable', async () => {
    // Prepare
    await run(['edit', '--prompt', 'p', '--image', 'https://example.com/a.png', '--no-wait']);
    api.nextScript = [{ status: 'running', phase: 'running' }];
    await run(['edit', '--prompt', 'p', '--image', 'https://example.com/a.png', '--no-wait']);
    await run(['status', 'job2']);

    // Act
    const cancelled = await run(['cancel', 'job1']);
    const refused = await run(['cancel', 'job2']);

    // Assess
    expect(cancelled).toMatchObject({ status: EXIT.ok, stdout: 'job job1 is cancelled\n' });
    expect(refused.status).toBe(EXIT.api);
    expect(refused.stderr).toContain('[not_cancellable, HTTP 409]');
  });

  it('waits for a job and lists its output URLs without --out', async () => {
    await run(['edit', '--prompt', 'p', '--image', 'https://example.com/a.png', '--no-wait']);

    const result = await run(['wait', 'job1']);

    expect(result.status).toBe(EXIT.ok);
    expect(result.stdout).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/files\/job1-0\?X-Amz-Signature=fake\n$/);
  });

  it('exits 1 for a cancelled job', async () => {
    await run(['edit', '--prompt', 'p', '--image', 'https://example.com/a.png', '--no-wait']);
    await run(['cancel', 'job1']);

    const result = await run(['wait', 'job1']);

    expect(result.status).toBe(EXIT.failed);
    expect(result.stderr).toContain('error: job job1 was cancelled\n');
  });

  it('stops waiting on Ctrl-C without cancelling, and says how to resume', async () => {
    // Prepare
    api.nextScript = [{ status: 'running', phase: 'running' }];
    await run(['edit', '--prompt', 'p', '--image', 'https://example.com/a.png', '--no-wait']);

    // Act
    const result = await run(['wait', 'job1', '--out', 'my outputs'], { ctrlCWhileWaiting: true });

    // Assess
    expect(result.status).toBe(EXIT.interrupted);
    expect(result.stderr).toContain(
      "stopped waiting; job job1 carries on. Resume with: flux-edit wait job1 --out 'my outputs'",
    );
    expect(api.requests.some((request) => request.path.endsWith('/cancel'))).toBe(false);
  });

  it('gives up after --timeout, saying the job carries on', async () => {
    api.nextScript = [{ status: 'queued', phase: 'queued', queue_position: 9 }];
    await run(['edit', '--prompt', 'p', '--image', 'https://example.com/a.png', '--no-wait']);

    const result = await run(['wait', 'job1', '--timeout', '0.02']);

    expect(result.status).toBe(EXIT.timeout);
    expect(result.stderr).toMatch(
      /error: job job1 did not end within 0s \(still queued, position 9\); it carries on/,
    );
  });
});

describe('Function: runCli (configuration)', () => {
  it('prints the usage for --help and without a command', async () => {
    expect(await run(['--help'])).toMatchObject({ status: EXIT.ok, stdout: USAGE });
    expect(await run([])).toMatchObject({ status: EXIT.ok, stdout: USAGE });
  });

  it('says how to set the API URL when none is found', async () => {
    const result = await run(['status', 'job1'], { env: {} });

    expect(result.status).toBe(EXIT.usage);
    expect(result.stderr).toMatch(
      /no API URL: pass --api-url <url>, set FLUX_EDIT_API_URL, or start the local runtime/,
    );
  });

  it('suggests starting the local runtime when the stack file’s API is down', async () => {
    // Prepare
    const url = api.url;
    await api.close();
    await mkdir(join(dir, '.local'));
    await writeFile(join(dir, '.local', 'stack.json'), JSON.stringify({ apiUrl: url }));

    // Act
    const result = await run(['status', 'job1'], { env: {} });

    // Assess
    expect(result.status).toBe(EXIT.api);
    expect(result.stderr).toMatch(
      /could not reach .*ECONNREFUSED.* is the local runtime running\? start it with npm start/,
    );
  });
});

describe('Function: runCli (bearer token)', () => {
  it('sends --token to the API on every call, and never to storage', async () => {
    // Act
    const result = await run([
      'edit',
      '--prompt',
      'p',
      '--image',
      './cup.png',
      '--out',
      'out',
      '--token',
      'tok.en-1',
    ]);

    // Assess
    expect(result.status).toBe(EXIT.ok);
    const toApi = api.requests.filter((request) => !/^\/(storage|files)\//.test(request.path));
    const toStorage = api.requests.filter((request) => /^\/(storage|files)\//.test(request.path));
    expect(toApi.length).toBeGreaterThan(2);
    expect(toStorage.length).toBe(2);
    expect(toApi.every((request) => request.headers.authorization === 'Bearer tok.en-1')).toBe(true);
    expect(toStorage.every((request) => request.headers.authorization === undefined)).toBe(true);
  });

  it('takes the token from FLUX_EDIT_TOKEN, and --token over it', async () => {
    const env = { FLUX_EDIT_API_URL: api.url, FLUX_EDIT_TOKEN: 'from-env' };
    await run(['edit', '--prompt', 'p', '--image', 'https://example.com/a.png', '--no-wait'], { env });
    await run(['status', 'job1', '--token', 'from-flag'], { env });

    expect(api.requests.map((request) => request.headers.authorization)).toEqual([
      'Bearer from-env',
      'Bearer from-flag',
    ]);
  });

  it('says how to give a token when the API answers 401', async () => {
    // Prepare: API Gateway's own refusal
    api.failNext.push({ status: 401, body: '{"message":"Unauthorized"}' });

    // Act
    const result = await run(['status', 'job1']);

    // Assess
    expect(result.status).toBe(EXIT.api);
    expect(result.stderr).toContain('[UNAUTHORIZED, HTTP 401]');
    expect(result.stderr).toContain('pass --token <jwt> or set FLUX_EDIT_TOKEN');
  });
});
