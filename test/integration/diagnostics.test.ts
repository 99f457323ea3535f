import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { useLocalPipeline } from '../support/local-pipeline-fixture.ts';
import { getJob, PNG_INPUT, postEdit, waitForJob, waitUntil } from '../support/pipeline-helpers.ts';

/** A loopback port nothing listens on: taken, then freed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as { port: number };
  await new Promise((closed) => server.close(closed));
  return port;
}

const port = await closedPort();
const lines: Record<string, unknown>[] = [];

/**
 * What a user sees when RunComfy cannot be reached: the job says why it waits, the logs carry
 * the error's text and the function's own name, and a refused connection (nothing was sent) is
 * never reported as a lost submission.
 */
const fixture = useLocalPipeline({
  stackName: 'diagnostics-test',
  runComfy: { baseUrl: `http://127.0.0.1:${port}`, token: 'any-token' },
  env: { jobDeadlineSeconds: 6 },
  extraEnv: { POWERTOOLS_LOG_LEVEL: 'WARN' },
});

beforeAll(() => {
  // Powertools writes JSON lines to stdout (info) and stderr (warnings, errors).
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    vi.spyOn(stream, 'write').mockImplementation((chunk, ...rest) => {
      for (const line of String(chunk).split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {}
      }
      return write(chunk, ...(rest as []));
    });
  }
});

afterAll(() => {
  vi.restoreAllMocks();
});

describe('Diagnostics: RunComfy unreachable', () => {
  it('shows the retried trouble on the job, then expires it without calling it lost', async () => {
    // Act
    const submitted = await postEdit(fixture.pipeline, { prompt: 'nobody home', image_urls: [PNG_INPUT] });
    const id = String(submitted.body.id);
    const waiting = await waitUntil(async () => {
      const job = await getJob(fixture.pipeline, id);
      return job.last_error ? job : undefined;
    });
    const ended = await waitForJob(fixture.pipeline, id, undefined, 30_000);

    // Assess: while it waits, the job says why and when it tries again
    expect(submitted.status).toBe(202);
    expect(waiting).toMatchObject({ status: 'queued', phase: 'submitting' });
    expect(waiting.last_error).toMatchObject({ code: 'RUNCOMFY_TRANSIENT', attempt: 1 });
    expect(waiting.last_error?.message).toMatch(/could not connect.*ECONNREFUSED/);
    expect(Date.parse(waiting.last_error!.next_try_at!)).toBeGreaterThan(Date.parse(waiting.last_error!.at));
    // Nothing was ever sent: the job expires; it is never "lost"
    expect(ended.status).toBe('expired');
    expect(ended.error).toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect(ended.error?.message).toMatch(/did not accept the job before its deadline.*could not connect/);
    expect(ended.last_error).toBeUndefined();

    // Assess: the poller's log line names the poller and carries the error's text
    const logged = lines.find((line) => line.message === 'upstream submit failed' && line.jobId === id);
    expect(logged).toBeDefined();
    expect(logged?.function_name).toBe('diagnostics-test-poller');
    expect(JSON.stringify(logged?.upstream)).toMatch(/ECONNREFUSED/);
    expect(lines.some((line) => String(line.message).includes('reserved key'))).toBe(false);
  });
});
