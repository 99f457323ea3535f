import { describe, expect, it, vi } from 'vitest';
import type { EditInput } from '#core/edit-input';
import { PipelineError } from '#core/errors';
import { RunComfyClient, type RunComfyClientOptions, RunComfyError } from '#core/runcomfy/index';
import {
  brokenBody,
  fakeClock,
  json,
  networkErrors,
  recordingLog,
  type Step,
  scriptedFetch,
  text,
} from './fakes.ts';

const TOKEN = 'rc_live_5ecr3t-T0ken-value';
const ID = '0b4d7a0e-7c56-4d8e-9f6e-2f1a6c3b9d10';
const INPUT: EditInput = {
  prompt: 'make the cup red',
  image_urls: ['https://example.com/cup.png'],
  guidance_scale: 2.5,
  image_size: 'square_hd',
  output_format: 'png',
};

function setup(steps: Step[], options: Partial<RunComfyClientOptions> = {}) {
  const fetch = scriptedFetch(...steps);
  const clock = fakeClock();
  const log = recordingLog();
  const token = vi.fn(async () => TOKEN);
  const client = new RunComfyClient({
    baseUrl: 'https://model-api.runcomfy.net',
    token,
    fetch,
    clock,
    log,
    random: () => 0.5,
    ...options,
  });
  return { client, fetch, clock, log, token };
}

async function failure(promise: Promise<unknown>): Promise<RunComfyError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(RunComfyError);
  return error as RunComfyError;
}

/** A fetch step that never answers until the client's own timeout aborts it. */
const hang: Step = (_request, signal) =>
  new Promise<Response>((_resolve, reject) => {
    signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

describe('Class: RunComfyClient', () => {
  describe('Method: submit', () => {
    it('POSTs the input to the model path with the bearer token and returns the request id', async () => {
      // Prepare
      const { client, fetch } = setup([
        json(200, {
          request_id: ID,
          status_url: `https://model-api.runcomfy.net/v1/requests/${ID}/status`,
          result_url: `https://model-api.runcomfy.net/v1/requests/${ID}/result`,
          cancel_url: `https://model-api.runcomfy.net/v1/requests/${ID}/cancel`,
        }),
      ]);

      // Act
      const accepted = await client.submit(INPUT);

      // Assess
      expect(accepted).toEqual({ requestId: ID });
      expect(fetch.calls).toEqual([
        {
          url: 'https://model-api.runcomfy.net/v1/models/blackforestlabs/flux-2/flash/edit',
          method: 'POST',
          headers: {
            accept: 'application/json',
            authorization: `Bearer ${TOKEN}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify(INPUT),
        },
      ]);
    });

    it('builds URLs from a base with a trailing slash or /v1, and encodes each model segment', async () => {
      // Prepare
      const { client, fetch } = setup([json(200, { request_id: ID })], {
        baseUrl: 'http://127.0.0.1:8080/v1/',
        modelId: 'acme/my model/v2',
      });

      // Act
      await client.submit(INPUT);

      // Assess
      expect(fetch.calls[0]?.url).toBe('http://127.0.0.1:8080/v1/models/acme/my%20model/v2');
    });

    it.each([
      ['a 500', json(500, { error_code: 500001, error_message: 'Internal' }), 'transient', true],
      ['a 502', text(502, '<html>Bad Gateway</html>'), 'transient', true],
      ['a 503', json(503, {}), 'transient', true],
      ['a 429', json(429, { error_code: 429001 }, { 'retry-after': '2' }), 'rate_limited', true],
      ['a 504', json(504, {}), 'outcome_unknown', false],
      ['a 400 auth error', json(400, { error_code: 400004, error_message: 'Invalid token' }), 'auth', false],
      ['a 401', json(401, { message: 'Unauthorized' }), 'auth', false],
      ['a 402', json(402, {}), 'billing', false],
      ['a 400 balance error', json(400, { error_code: 400002 }), 'billing', false],
      ['a 400 bad model', json(400, { error_code: 400001 }), 'invalid_input', false],
      ['a 404 model not found', json(404, {}), 'not_found', false],
      [
        'a 422',
        json(422, { error_code: 422001, detail: [{ loc: ['body', 'seed'], msg: 'bad' }] }),
        'invalid_input',
        false,
      ],
      ['a 200 error quirk', json(200, { error_code: 400002, error_message: 'No balance' }), 'billing', false],
    ])('never retries after %s (%s, retryable=%s)', async (_name, response, kind, retryable) => {
      // Prepare: a second answer that would succeed, to prove it is never asked for
      const { client, fetch, clock } = setup([response as Response, json(200, { request_id: ID })]);

      // Act
      const error = await failure(client.submit(INPUT));

      // Assess
      expect(error).toMatchObject({ kind, retryable, operation: 'submit' });
      expect(fetch.calls).toHaveLength(1);
      expect(clock.sleeps).toEqual([]);
    });

    it('hands a 429 Retry-After to the caller instead of sleeping', async () => {
      const { client } = setup([json(429, {}, { 'retry-after': 'Fri, 02 Jan 2026 03:05:05 GMT' })]);
      expect(await failure(client.submit(INPUT))).toMatchObject({
        kind: 'rate_limited',
        retryAfterMs: 60_000,
      });
    });

    it.each([
      ['connection refused', networkErrors.refused()],
      ['DNS failure', networkErrors.dns()],
      ['every address refused', networkErrors.happyEyeballsRefused()],
    ])('reports %s (nothing was sent) as a retryable transient error', async (_name, cause) => {
      // Prepare
      const { client, fetch } = setup([cause, json(200, { request_id: ID })]);

      // Act
      const error = await failure(client.submit(INPUT));

      // Assess
      expect(error).toMatchObject({ kind: 'transient', code: 'RUNCOMFY_TRANSIENT', retryable: true });
      expect(error.cause).toBe(cause);
      expect(error.message).toMatch(/could not connect/);
      expect(fetch.calls).toHaveLength(1);
    });

    it.each([
      ['a reset after sending', networkErrors.reset()],
      ['a socket closed by the server', networkErrors.socketClosed()],
      ['a timeout', networkErrors.timeout()],
      ['an error it cannot place', networkErrors.uncoded()],
    ])('reports %s as outcome_unknown and does not retry', async (_name, cause) => {
      // Prepare
      const { client, fetch } = setup([cause, json(200, { request_id: ID })]);

      // Act
      const error = await failure(client.submit(INPUT));

      // Assess
      expect(error).toMatchObject({
        kind: 'outcome_unknown',
        code: 'RUNCOMFY_OUTCOME_UNKNOWN',
        retryable: false,
        status: 502,
        expose: false,
      });
      expect(error).toBeInstanceOf(PipelineError);
      expect(error.name).toBe('RunComfyError');
      expect(error.message).toMatch(/may have been accepted/);
      expect(fetch.calls).toHaveLength(1);
    });

    it('aborts a hanging submit at submitTimeoutMs and reports outcome_unknown', async () => {
      // Prepare
      const { client, fetch } = setup([hang], { submitTimeoutMs: 20 });

      // Act
      const error = await failure(client.submit(INPUT));

      // Assess
      expect(error).toMatchObject({ kind: 'outcome_unknown', retryable: false });
      expect(error.message).toContain('no complete answer within 20 ms');
      expect(fetch.calls).toHaveLength(1);
    });

    it('reports a 200 whose body breaks off as outcome_unknown', async () => {
      const { client } = setup([brokenBody(200)]);
      expect(await failure(client.submit(INPUT))).toMatchObject({ kind: 'outcome_unknown', httpStatus: 200 });
    });

    it('reports a 503 whose body breaks off as transient (the status already said no)', async () => {
      const { client } = setup([brokenBody(503)]);
      expect(await failure(client.submit(INPUT))).toMatchObject({ kind: 'transient', httpStatus: 503 });
    });

    it('reports a 200 without a usable request id as outcome_unknown with the raw body', async () => {
      const { client } = setup([json(200, { id: ID })]);
      const error = await failure(client.submit(INPUT));
      expect(error).toMatchObject({ kind: 'outcome_unknown', rawSnippet: JSON.stringify({ id: ID }) });
    });

    it('carries the upstream validation issues of a 422', async () => {
      // Prepare
      const { client } = setup([
        json(422, {
          error_code: 422001,
          error_message: 'Input validation failed',
          detail: [{ loc: ['body', 'image_urls', 1], msg: 'must be an https URL', type: 'value_error' }],
        }),
      ]);

      // Act
      const error = await failure(client.submit(INPUT));

      // Assess
      expect(error).toMatchObject({
        kind: 'invalid_input',
        code: 'RUNCOMFY_INVALID_INPUT',
        status: 422,
        expose: true,
        upstreamCode: 422001,
        issues: [{ path: 'image_urls/1', message: 'must be an https URL' }],
      });
    });
  });

  describe('Method: status', () => {
    it('GETs the status URL rebuilt from the base URL', async () => {
      // Prepare
      const { client, fetch } = setup([json(200, { request_id: ID, status: 'in_queue', queue_position: 0 })]);

      // Act
      const status = await client.status(ID);

      // Assess
      expect(status).toEqual({ state: 'queued', rawStatus: 'in_queue', queuePosition: 0 });
      expect(fetch.calls[0]).toMatchObject({
        url: `https://model-api.runcomfy.net/v1/requests/${ID}/status`,
        method: 'GET',
        headers: { authorization: `Bearer ${TOKEN}`, accept: 'application/json' },
        body: undefined,
      });
    });

    it('retries 5xx, 429 and network failures with full-jitter exponential backoff', async () => {
      // Prepare
      const { client, fetch, clock } = setup([
        json(503, {}),
        networkErrors.reset(),
        json(429, {}),
        json(200, { status: 'completed' }),
      ]);

      // Act
      const status = await client.status(ID);

      // Assess: random() = 0.5 gives half of 250, 500, 1000
      expect(status.state).toBe('finished');
      expect(fetch.calls).toHaveLength(4);
      expect(clock.sleeps).toEqual([125, 250, 500]);
    });

    it('retries a timed-out attempt', async () => {
      // Prepare
      const { client, fetch } = setup([hang, json(200, { status: 'in_progress' })], { getTimeoutMs: 20 });

      // Act
      const status = await client.status(ID);

      // Assess
      expect(status.state).toBe('running');
      expect(fetch.calls).toHaveLength(2);
    });

    it('gives up after maxGetAttempts with the last error', async () => {
      // Prepare
      const { client, fetch, clock } = setup(
        [json(500, {}), json(502, {}), networkErrors.timeout(), json(503, { error_code: 500001 })],
        { maxGetAttempts: 4 },
      );

      // Act
      const error = await failure(client.status(ID));

      // Assess
      expect(error).toMatchObject({
        kind: 'transient',
        retryable: true,
        httpStatus: 503,
        upstreamCode: 500001,
      });
      expect(fetch.calls).toHaveLength(4);
      expect(clock.sleeps).toHaveLength(3);
    });

    it('caps each backoff at maxBackoffMs', async () => {
      // Prepare
      const { client, clock } = setup(
        [json(500, {}), json(500, {}), json(500, {}), json(200, { status: 'queued' })],
        {
          random: () => 0.999,
          baseBackoffMs: 1_000,
          maxBackoffMs: 1_500,
        },
      );

      // Act
      await client.status(ID);

      // Assess
      expect(clock.sleeps).toEqual([999, 1498, 1498]);
    });

    it('sleeps exactly the Retry-After seconds when RunComfy gives them', async () => {
      const { client, clock } = setup([
        json(429, {}, { 'retry-after': '3' }),
        json(200, { status: 'queued' }),
      ]);
      await client.status(ID);
      expect(clock.sleeps).toEqual([3000]);
    });

    it('sleeps until a Retry-After date', async () => {
      const { client, clock } = setup([
        json(503, {}, { 'retry-after': 'Fri, 02 Jan 2026 03:04:07 GMT' }),
        json(200, { status: 'queued' }),
      ]);
      await client.status(ID);
      expect(clock.sleeps).toEqual([2000]);
    });

    it('throws at once when Retry-After exceeds maxBackoffMs, so the caller can reschedule', async () => {
      // Prepare
      const { client, fetch, clock } = setup([json(429, { error_code: 429001 }, { 'retry-after': '30' })]);

      // Act
      const error = await failure(client.status(ID));

      // Assess
      expect(error).toMatchObject({
        kind: 'rate_limited',
        code: 'RUNCOMFY_RATE_LIMITED',
        retryable: true,
        retryAfterMs: 30_000,
        httpStatus: 429,
      });
      expect(fetch.calls).toHaveLength(1);
      expect(clock.sleeps).toEqual([]);
    });

    it.each([
      ['an expired id (404001)', json(404, { error_code: 404001 }), 'not_found'],
      ['a revoked token (400004)', json(400, { error_code: 400004 }), 'auth'],
      ['a foreign id (403001)', json(403, { error_code: 403001 }), 'auth'],
      ['an unreadable answer', text(200, '<html>proxy</html>'), 'bad_response'],
      ['the HTTP-200 error quirk', json(200, { error_code: 404001, error_message: 'gone' }), 'not_found'],
    ])('does not retry %s', async (_name, response, kind) => {
      const { client, fetch } = setup([response as Response]);
      expect(await failure(client.status(ID))).toMatchObject({ kind });
      expect(fetch.calls).toHaveLength(1);
    });

    it('retries the HTTP-200 quirk when it carries a 5xx code', async () => {
      const { client, fetch } = setup([json(200, { error_code: 500001 }), json(200, { status: 'queued' })]);
      expect((await client.status(ID)).state).toBe('queued');
      expect(fetch.calls).toHaveLength(2);
    });

    it.each([
      ['a path', '../models'],
      ['a query', 'abc?x=1'],
      ['an empty string', ''],
      ['a too-long id', 'a'.repeat(129)],
    ])('refuses %s as a request id without calling RunComfy', async (_name, requestId) => {
      const { client, fetch } = setup([]);
      const error = await failure(client.status(requestId));
      expect(error).toMatchObject({ kind: 'invalid_input', retryable: false });
      expect(error.message).not.toContain(requestId || '\u0000');
      expect(fetch.calls).toHaveLength(0);
    });

    it('logs one debug line per retry', async () => {
      const { client, log } = setup([json(503, {}), json(200, { status: 'queued' })]);
      await client.status(ID);
      expect(log.entries).toEqual([
        {
          level: 'debug',
          message: 'Retrying RunComfy call',
          extra: [
            {
              operation: 'status',
              requestId: ID,
              attempt: 1,
              code: 'RUNCOMFY_TRANSIENT',
              httpStatus: 503,
              delayMs: 125,
            },
          ],
        },
      ]);
    });
  });

  describe('Method: result', () => {
    it('GETs the result with include_cost and reads it', async () => {
      // Prepare
      const { client, fetch } = setup([
        json(200, {
          request_id: ID,
          status: 'succeeded',
          output: { image: 'https://playgrounds-storage-public.runcomfy.net/a.png' },
          cost: 0.01,
        }),
      ]);

      // Act
      const result = await client.result(ID);

      // Assess
      expect(result).toEqual({
        state: 'succeeded',
        rawStatus: 'succeeded',
        outputUrls: ['https://playgrounds-storage-public.runcomfy.net/a.png'],
        cost: 0.01,
      });
      expect(fetch.calls[0]?.url).toBe(
        `https://model-api.runcomfy.net/v1/requests/${ID}/result?include_cost=true`,
      );
    });

    it('leaves out include_cost when told to', async () => {
      const { client, fetch } = setup([json(200, { status: 'in_queue' })], { includeCost: false });
      expect(await client.result(ID)).toEqual({ state: 'queued', rawStatus: 'in_queue', outputUrls: [] });
      expect(fetch.calls[0]?.url).toBe(`https://model-api.runcomfy.net/v1/requests/${ID}/result`);
    });

    it('retries like status does', async () => {
      const { client, clock } = setup([json(502, {}), json(200, { status: 'failed', error: 'boom' })]);
      expect(await client.result(ID)).toMatchObject({
        state: 'failed',
        error: { message: 'boom', raw: 'boom' },
      });
      expect(clock.sleeps).toEqual([125]);
    });

    it('reports an expired request as not_found', async () => {
      const { client } = setup([json(404, { error_code: 404001, error: 'ResourceNotFound' })]);
      expect(await failure(client.result(ID))).toMatchObject({
        kind: 'not_found',
        code: 'RUNCOMFY_NOT_FOUND',
      });
    });
  });

  describe('Method: cancel', () => {
    it('POSTs to the cancel URL without a body and reads the outcome', async () => {
      // Prepare
      const { client, fetch } = setup([
        json(202, { request_id: ID, status: 'cancelled', outcome: 'cancelled' }),
      ]);

      // Act
      const outcome = await client.cancel(ID);

      // Assess
      expect(outcome).toEqual({ outcome: 'cancelled', rawStatus: 'cancelled' });
      expect(fetch.calls[0]).toMatchObject({
        url: `https://model-api.runcomfy.net/v1/requests/${ID}/cancel`,
        method: 'POST',
        body: undefined,
      });
    });

    it('reads not_cancellable', async () => {
      const { client } = setup([json(202, { status: 'in_progress', outcome: 'not_cancellable' })]);
      expect(await client.cancel(ID)).toEqual({ outcome: 'not_cancellable', rawStatus: 'in_progress' });
    });

    it.each([
      ['a 429', json(429, {})],
      ['a 503', json(503, {})],
      ['a connection reset', networkErrors.reset()],
      ['a timeout', networkErrors.timeout()],
    ])('retries once after %s (cancelling twice is harmless)', async (_name, first) => {
      // Prepare
      const { client, fetch } = setup([first, json(202, { outcome: 'cancelled' })]);

      // Act / Assess
      expect(await client.cancel(ID)).toEqual({ outcome: 'cancelled' });
      expect(fetch.calls).toHaveLength(2);
    });

    it('gives up after maxCancelAttempts', async () => {
      const { client, fetch } = setup([json(503, {}), json(503, {})]);
      expect(await failure(client.cancel(ID))).toMatchObject({ kind: 'transient', operation: 'cancel' });
      expect(fetch.calls).toHaveLength(2);
    });

    it.each([
      ['a 500', json(500, {}), 'transient'],
      ['a 404', json(404, { error_code: 404001 }), 'not_found'],
      ['a 401', json(401, {}), 'auth'],
    ])('does not retry %s', async (_name, response, kind) => {
      const { client, fetch } = setup([response, json(202, { outcome: 'cancelled' })]);
      expect(await failure(client.cancel(ID))).toMatchObject({ kind });
      expect(fetch.calls).toHaveLength(1);
    });
  });

  describe('Token handling', () => {
    it('resolves the token for every attempt', async () => {
      const { client, token } = setup([json(503, {}), json(200, { status: 'queued' })]);
      await client.status(ID);
      expect(token).toHaveBeenCalledTimes(2);
    });

    it.each([
      ['an error message', json(401, { error_message: `invalid token ${TOKEN}` })],
      ['a validation detail', json(422, { detail: [{ loc: ['body', 'auth'], msg: `bad ${TOKEN}` }] })],
      ['a body that is not JSON', text(400, `Authorization: Bearer ${TOKEN} rejected`)],
      ['the HTTP-200 quirk', json(200, { error_code: 400004, error_message: `token ${TOKEN} revoked` })],
    ])('never puts the token in an error, even when RunComfy echoes it in %s', async (_name, response) => {
      // Prepare
      const { client } = setup([response]);

      // Act
      const error = await failure(client.submit(INPUT));

      // Assess
      const everything = JSON.stringify({ ...error, message: error.message, stack: error.stack });
      expect(everything).not.toContain(TOKEN);
      expect(everything).toContain('[REDACTED]');
    });

    it('never logs the token', async () => {
      const { client, log } = setup([json(503, { error_message: TOKEN }), json(200, { status: 'weird' })]);
      await client.status(ID);
      expect(JSON.stringify(log.entries)).not.toContain(TOKEN);
    });

    it.each([
      ['empty', ''],
      ['containing a newline', `${TOKEN}\nX-Injected: 1`],
      ['containing a space', 'two words'],
    ])('refuses a token that is %s before anything is sent', async (_name, bad) => {
      // Prepare
      const { client, fetch } = setup([], { token: async () => bad });

      // Act
      const error = await failure(client.submit(INPUT));

      // Assess
      expect(error).toMatchObject({ kind: 'auth', code: 'RUNCOMFY_AUTH', retryable: false });
      expect(error.message).not.toContain(TOKEN);
      expect(fetch.calls).toHaveLength(0);
    });

    it('lets a failure to obtain the token through unchanged (it is not RunComfy’s)', async () => {
      const secretsDown = new Error('Secrets Manager unavailable');
      const { client, fetch } = setup([], { token: async () => Promise.reject(secretsDown) });
      await expect(client.status(ID)).rejects.toBe(secretsDown);
      expect(fetch.calls).toHaveLength(0);
    });
  });

  describe('Constructor', () => {
    const base = { token: async () => TOKEN };

    it.each([
      ['a base URL that is not a URL', { baseUrl: 'model-api' }],
      ['a non-http base URL', { baseUrl: 'ftp://model-api.runcomfy.net' }],
      ['a base URL with a query', { baseUrl: 'https://model-api.runcomfy.net?x=1' }],
      ['a base URL with credentials', { baseUrl: 'https://u:p@model-api.runcomfy.net' }],
      ['a zero attempt count', { baseUrl: 'https://model-api.runcomfy.net', maxGetAttempts: 0 }],
      ['a fractional timeout', { baseUrl: 'https://model-api.runcomfy.net', getTimeoutMs: 1.5 }],
      ['an empty model id', { baseUrl: 'https://model-api.runcomfy.net', modelId: '/' }],
    ])('refuses %s', (_name, options) => {
      expect(() => new RunComfyClient({ ...base, ...options })).toThrow(TypeError);
    });
  });
});
