import { describe, expect, it } from 'vitest';
import { classifyErrorAnswer, type ReadContext } from '#core/runcomfy/error-answers';
import type { RunComfyError } from '#core/runcomfy/errors';
import type { RawResponse } from '#core/runcomfy/http';
import {
  readCancelResponse,
  readResultResponse,
  readStatusResponse,
  readSubmitResponse,
} from '#core/runcomfy/responses';
import { statusStateOf } from '#core/runcomfy/status-spellings';
import { describeUpstreamError, extractOutputUrls } from '#core/runcomfy/upstream-values';
import { recordingLog } from './fakes.ts';

const NOW = Date.parse('2026-01-02T03:04:05.000Z');
const ID = '0b4d7a0e-7c56-4d8e-9f6e-2f1a6c3b9d10';

function raw(status: number, body: unknown, headers: Record<string, string> = {}): RawResponse {
  return {
    status,
    headers: new Headers(headers),
    body: typeof body === 'string' ? body : JSON.stringify(body),
  };
}

function context(
  operation: ReadContext['operation'],
  log = recordingLog(),
): ReadContext & { log: typeof log } {
  return operation === 'submit'
    ? { operation, nowMs: NOW, log }
    : { operation, nowMs: NOW, requestId: ID, log };
}

function thrown(action: () => unknown): RunComfyError {
  try {
    action();
  } catch (error) {
    return error as RunComfyError;
  }
  throw new Error('expected a throw');
}

describe('Function: statusStateOf', () => {
  it.each([
    ['completed', 'finished'],
    ['succeeded', 'finished'],
    ['failed', 'finished'],
    ['error', 'finished'],
    ['cancelled', 'finished'],
    ['canceled', 'finished'],
    ['COMPLETED', 'finished'],
    ['Canceled', 'finished'],
    ['in_queue', 'queued'],
    ['IN_QUEUE', 'queued'],
    ['queued', 'queued'],
    ['pending', 'queued'],
    ['in_progress', 'running'],
    ['IN_PROGRESS', 'running'],
    ['in-progress', 'running'],
    ['running', 'running'],
    ['processing', 'running'],
    ['started', 'running'],
    ['cancellation_requested', 'unknown'],
    ['paused', 'unknown'],
    ['', 'unknown'],
  ])('maps %j to %s', (status, state) => {
    expect(statusStateOf(status)).toBe(state);
  });
});

describe('Function: readStatusResponse', () => {
  it('reads a queued status with its queue position', () => {
    // Act
    const status = readStatusResponse(
      context('status'),
      raw(200, { request_id: ID, status: 'in_queue', queue_position: 3, status_url: 'x', result_url: 'y' }),
    );

    // Assess
    expect(status).toEqual({ state: 'queued', rawStatus: 'in_queue', queuePosition: 3 });
  });

  it('reads a running status without a queue position', () => {
    expect(
      readStatusResponse(context('status'), raw(200, { request_id: ID, status: 'in_progress' })),
    ).toEqual({
      state: 'running',
      rawStatus: 'in_progress',
    });
  });

  it('accepts a numeric-string queue position and ignores a nonsense one', () => {
    const ctx = context('status');
    expect(readStatusResponse(ctx, raw(200, { status: 'in_queue', queue_position: '2' })).queuePosition).toBe(
      2,
    );
    expect(readStatusResponse(ctx, raw(200, { status: 'in_queue', queue_position: 'soon' }))).toEqual({
      state: 'queued',
      rawStatus: 'in_queue',
    });
  });

  it('warns with the raw value for a status it has never seen', () => {
    // Prepare
    const ctx = context('status');

    // Act
    const status = readStatusResponse(ctx, raw(200, { status: 'Thinking' }));

    // Assess
    expect(status).toEqual({ state: 'unknown', rawStatus: 'Thinking' });
    expect(ctx.log.entries).toEqual([
      expect.objectContaining({ level: 'warn', extra: [expect.objectContaining({ rawStatus: 'Thinking' })] }),
    ]);
  });

  it('warns when the answer is about another request', () => {
    const ctx = context('status');
    readStatusResponse(ctx, raw(200, { request_id: 'someone-else', status: 'in_queue' }));
    expect(ctx.log.entries[0]?.message).toMatch(/different request id/);
  });

  it.each([
    ['not JSON', '<html>bad gateway</html>'],
    ['a JSON array', [1, 2]],
    ['no status', { request_id: ID }],
    ['a numeric status', { status: 3 }],
    ['null', 'null'],
  ])('turns %s into bad_response with a snippet of the body', (_name, body) => {
    // Act
    const error = thrown(() => readStatusResponse(context('status'), raw(200, body)));

    // Assess
    expect(error).toMatchObject({ kind: 'bad_response', code: 'RUNCOMFY_BAD_RESPONSE', retryable: true });
    expect(error.rawSnippet).toBe(typeof body === 'string' ? body : JSON.stringify(body));
  });

  it('truncates the raw snippet of a huge body', () => {
    const error = thrown(() => readStatusResponse(context('status'), raw(200, 'x'.repeat(10_000))));
    expect(error.rawSnippet?.length).toBeLessThanOrEqual(501);
  });
});

describe('Function: extractOutputUrls', () => {
  it.each([
    ['image as a string', { image: 'https://cdn.runcomfy.net/a.png' }, ['https://cdn.runcomfy.net/a.png']],
    [
      'images as an array',
      { images: ['https://cdn.runcomfy.net/a.png', 'https://cdn.runcomfy.net/b.png'] },
      ['https://cdn.runcomfy.net/a.png', 'https://cdn.runcomfy.net/b.png'],
    ],
    ['image as an array', { image: ['https://cdn.runcomfy.net/a.png'] }, ['https://cdn.runcomfy.net/a.png']],
    ['images as a string', { images: 'https://cdn.runcomfy.net/a.png' }, ['https://cdn.runcomfy.net/a.png']],
    ['video as a string', { video: 'https://cdn.runcomfy.net/a.mp4' }, ['https://cdn.runcomfy.net/a.mp4']],
    [
      'videos as an array',
      { videos: ['https://cdn.runcomfy.net/a.mp4', 'https://cdn.runcomfy.net/b.mp4'] },
      ['https://cdn.runcomfy.net/a.mp4', 'https://cdn.runcomfy.net/b.mp4'],
    ],
    [
      'the docs example mixing image and videos',
      {
        image: 'https://playgrounds-storage-public.runcomfy.net/a.png',
        videos: [
          'https://playgrounds-storage-public.runcomfy.net/a.mp4',
          'https://playgrounds-storage-public.runcomfy.net/b.mp4',
        ],
      },
      [
        'https://playgrounds-storage-public.runcomfy.net/a.png',
        'https://playgrounds-storage-public.runcomfy.net/a.mp4',
        'https://playgrounds-storage-public.runcomfy.net/b.mp4',
      ],
    ],
    [
      'fal-style image objects',
      { images: [{ url: 'https://cdn.runcomfy.net/a.png', width: 1024 }] },
      ['https://cdn.runcomfy.net/a.png'],
    ],
  ])('reads %s', (_name, output, urls) => {
    expect(extractOutputUrls(output)).toEqual(urls);
  });

  it('keeps the key order image, images, video, videos and drops duplicates', () => {
    // Prepare: keys deliberately listed out of order, with repeats
    const output = {
      videos: ['https://x.runcomfy.net/v2.mp4'],
      images: [
        'https://x.runcomfy.net/a.png',
        'https://x.runcomfy.net/b.png',
        'https://x.runcomfy.net/a.png',
      ],
      image: 'https://x.runcomfy.net/a.png',
      video: 'https://x.runcomfy.net/v1.mp4',
    };

    // Act / Assess
    expect(extractOutputUrls(output)).toEqual([
      'https://x.runcomfy.net/a.png',
      'https://x.runcomfy.net/b.png',
      'https://x.runcomfy.net/v1.mp4',
      'https://x.runcomfy.net/v2.mp4',
    ]);
  });

  it('skips values that are not http(s) URLs', () => {
    expect(
      extractOutputUrls({
        image: 'not a url',
        images: ['', 42, null, 'ftp://x/a.png', 'https://x.runcomfy.net/ok.png'],
      }),
    ).toEqual(['https://x.runcomfy.net/ok.png']);
  });

  it('falls back to any URL-looking string under output when no known key has one', () => {
    // Prepare
    const output = {
      result: { files: [{ href: 'https://x.runcomfy.net/a.webp' }, 'https://x.runcomfy.net/b.webp'] },
      seed: 42,
      note: 'done',
      again: 'https://x.runcomfy.net/a.webp',
    };

    // Act / Assess
    expect(extractOutputUrls(output)).toEqual([
      'https://x.runcomfy.net/a.webp',
      'https://x.runcomfy.net/b.webp',
    ]);
  });

  it('reads a bare string or array output', () => {
    expect(extractOutputUrls('https://x.runcomfy.net/a.png')).toEqual(['https://x.runcomfy.net/a.png']);
    expect(extractOutputUrls(['https://x.runcomfy.net/a.png'])).toEqual(['https://x.runcomfy.net/a.png']);
  });

  it('returns nothing for an absent or empty output', () => {
    expect(extractOutputUrls(undefined)).toEqual([]);
    expect(extractOutputUrls(null)).toEqual([]);
    expect(extractOutputUrls({})).toEqual([]);
  });
});

describe('Function: describeUpstreamError', () => {
  it.each([
    ['a plain string', 'CUDA out of memory', 'CUDA out of memory'],
    [
      'an error_code object',
      { error_code: 500001, error_message: 'Internal error' },
      'Internal error (code 500001)',
    ],
    ['a message object', { message: 'NSFW content detected' }, 'NSFW content detected'],
    [
      'a JSON-encoded object string',
      '{"error_code": 500001, "error_message": "worker crashed"}',
      'worker crashed (code 500001)',
    ],
    ['a JSON-encoded string', '"input image unreachable"', 'input image unreachable'],
    [
      'the Serverless API array',
      [
        { errorCode: 'E1', error: 'node failed', debugInfo: { node: 12 } },
        { errorCode: 'E2', error: 'second failure' },
      ],
      'node failed (code E1); second failure (code E2)',
    ],
    [
      'a FastAPI detail list',
      { detail: [{ loc: ['body', 'image_urls', 0], msg: 'unreachable', type: 'value_error' }] },
      'body.image_urls.0: unreachable',
    ],
    ['a nested error object', { error: { message: 'deep reason' } }, 'deep reason'],
    ['a bare code object', { error_code: 500001 }, 'error code 500001'],
    ['a number', 500001, '500001'],
    ['an unknown object', { weird: true }, '{"weird":true}'],
    ['malformed JSON text', '{not json', '{not json'],
  ])('reads %s', (_name, value, message) => {
    expect(describeUpstreamError(value)).toBe(message);
  });

  it.each([[null], [undefined], [''], ['   '], [{}], [[]]])('has nothing to say about %j', (value) => {
    expect(describeUpstreamError(value)).toBeUndefined();
  });

  it('keeps messages bounded', () => {
    expect(describeUpstreamError('x'.repeat(5_000))?.length).toBeLessThanOrEqual(1_001);
  });
});

describe('Function: readResultResponse', () => {
  const success = {
    request_id: ID,
    status: 'succeeded',
    output: { image: 'https://playgrounds-storage-public.runcomfy.net/a.png' },
    created_at: '2026-01-02T03:04:05.123456+00:00',
    finished_at: '2026-01-02T03:04:09.654321+00:00',
    cost: 0.01,
  };

  it('reads a success with its URLs, timestamps and cost', () => {
    expect(readResultResponse(context('result'), raw(200, success))).toEqual({
      state: 'succeeded',
      rawStatus: 'succeeded',
      outputUrls: ['https://playgrounds-storage-public.runcomfy.net/a.png'],
      createdAt: '2026-01-02T03:04:05.123456+00:00',
      finishedAt: '2026-01-02T03:04:09.654321+00:00',
      cost: 0.01,
    });
  });

  it('accepts `completed` with output as success, and a numeric-string cost', () => {
    const result = readResultResponse(
      context('result'),
      raw(200, { ...success, status: 'COMPLETED', cost: '2.85' }),
    );
    expect(result).toMatchObject({ state: 'succeeded', rawStatus: 'COMPLETED', cost: 2.85 });
  });

  it('treats `completed` without output but with an error as a failure', () => {
    const result = readResultResponse(
      context('result'),
      raw(200, { request_id: ID, status: 'completed', error: 'boom' }),
    );
    expect(result).toEqual({
      state: 'failed',
      rawStatus: 'completed',
      outputUrls: [],
      error: { message: 'boom', raw: 'boom' },
    });
  });

  it('leaves a success without any output URL unknown, with a warning', () => {
    // Prepare
    const ctx = context('result');

    // Act
    const result = readResultResponse(ctx, raw(200, { request_id: ID, status: 'succeeded', output: {} }));

    // Assess
    expect(result).toEqual({ state: 'unknown', rawStatus: 'succeeded', outputUrls: [] });
    expect(ctx.log.entries.map((entry) => entry.level)).toEqual(['warn']);
  });

  it.each([
    ['an object', { error_code: 500001, error_message: 'worker crashed' }, 'worker crashed (code 500001)'],
    ['a string', 'worker crashed', 'worker crashed'],
    ['a JSON-encoded string', '{"error_message":"worker crashed"}', 'worker crashed'],
    [
      'a Serverless array',
      [{ errorCode: 500, error: 'worker crashed', debugInfo: 'trace' }],
      'worker crashed (code 500)',
    ],
  ])('reads a failure whose error is %s, keeping the raw value', (_name, error, message) => {
    // Act
    const result = readResultResponse(
      context('result'),
      raw(200, { request_id: ID, status: 'failed', error, created_at: 'a', finished_at: 'b' }),
    );

    // Assess
    expect(result).toEqual({
      state: 'failed',
      rawStatus: 'failed',
      outputUrls: [],
      error: { message, raw: error },
      createdAt: 'a',
      finishedAt: 'b',
    });
  });

  it('reads `error` as a failure spelling and a top-level error_message as its reason', () => {
    const result = readResultResponse(
      context('result'),
      raw(200, { status: 'error', error_message: 'prompt blocked', error_code: 500001 }),
    );
    expect(result.state).toBe('failed');
    expect(result.error).toEqual({ message: 'prompt blocked', raw: 'prompt blocked' });
  });

  it('gives a failure without any reason a readable message', () => {
    const result = readResultResponse(context('result'), raw(200, { status: 'failed' }));
    expect(result.error).toEqual({
      message: 'RunComfy reported the run as failed without a reason',
      raw: null,
    });
  });

  it.each([
    ['cancelled', 'cancelled'],
    ['canceled', 'cancelled'],
    ['in_queue', 'queued'],
    ['queued', 'queued'],
    ['pending', 'queued'],
    ['in_progress', 'running'],
    ['running', 'running'],
    ['processing', 'running'],
    ['started', 'running'],
    ['mystery', 'unknown'],
  ])('maps result status %j to %s without output URLs', (status, state) => {
    // Output on a non-success is ignored: only a success hands URLs on
    const result = readResultResponse(
      context('result'),
      raw(200, { status, output: { image: 'https://x.runcomfy.net/a.png' }, created_at: 'a' }),
    );
    expect(result).toEqual({ state, rawStatus: status, outputUrls: [], createdAt: 'a' });
  });

  it('ignores optional fields of the wrong type instead of failing', () => {
    const result = readResultResponse(
      context('result'),
      raw(200, { ...success, created_at: 12, finished_at: null, cost: 'free', extra: { nested: true } }),
    );
    expect(result).toEqual({
      state: 'succeeded',
      rawStatus: 'succeeded',
      outputUrls: ['https://playgrounds-storage-public.runcomfy.net/a.png'],
    });
  });
});

describe('Function: readSubmitResponse', () => {
  it('reads the request id (the URLs are optional)', () => {
    expect(readSubmitResponse(context('submit'), raw(200, { request_id: ID }))).toEqual({ requestId: ID });
    expect(
      readSubmitResponse(
        context('submit'),
        raw(200, { request_id: 'req_abc-123', status_url: 'https://elsewhere.example/status' }),
      ),
    ).toEqual({ requestId: 'req_abc-123' });
  });

  it.each([
    ['a missing request id', { status_url: 'x' }],
    ['an id with a slash', { request_id: '../../v1/models' }],
    ['an id that is too long', { request_id: 'a'.repeat(129) }],
    ['an empty id', { request_id: '' }],
    ['a numeric id', { request_id: 12 }],
    ['a body that is not JSON', 'OK'],
  ])('treats a 2xx with %s as outcome_unknown: a job may exist', (_name, body) => {
    const error = thrown(() => readSubmitResponse(context('submit'), raw(200, body)));
    expect(error).toMatchObject({
      kind: 'outcome_unknown',
      code: 'RUNCOMFY_OUTCOME_UNKNOWN',
      retryable: false,
    });
    expect(error.rawSnippet).toBeDefined();
  });
});

describe('Function: classifyErrorAnswer', () => {
  it.each([
    [401, {}, 'auth'],
    [403, { error_code: 403001, error: 'PermissionDeniedError' }, 'auth'],
    [400, { error_code: 400004, error: 'UserAccountError', error_message: 'Invalid token' }, 'auth'],
    [400, { code: 400004, error: 'UserAccountError' }, 'auth'],
    [402, { message: 'Payment required' }, 'billing'],
    [400, { error_code: 400002, error: 'InsufficientResources' }, 'billing'],
    [400, { error_code: 400001, error: 'InvalidResourceIdentifier' }, 'invalid_input'],
    [404, { error_code: 400001, error: 'InvalidResourceIdentifier' }, 'invalid_input'],
    [400, {}, 'invalid_input'],
    [422, { error_code: 422001 }, 'invalid_input'],
    [404, { error_code: 404001, error: 'ResourceNotFound' }, 'not_found'],
    [404, 'Not Found', 'not_found'],
    [410, {}, 'not_found'],
    [429, { error_code: 429001 }, 'rate_limited'],
    [408, {}, 'transient'],
    [500, { error_code: 500001 }, 'transient'],
    [502, '<html>Bad Gateway</html>', 'transient'],
    [503, '', 'transient'],
    [504, {}, 'transient'],
    [302, '', 'bad_response'],
  ])('classifies HTTP %i %j as %s', (status, body, kind) => {
    expect(classifyErrorAnswer(context('status'), raw(status, body)).kind).toBe(kind);
  });

  it('keeps the status for 429/5xx even when the body says otherwise', () => {
    expect(classifyErrorAnswer(context('status'), raw(503, { error_code: 400004 })).kind).toBe('transient');
  });

  it('treats a 504 on submit as outcome_unknown (a proxy passed the POST on and lost the answer)', () => {
    const error = classifyErrorAnswer(context('submit'), raw(504, {}));
    expect(error).toMatchObject({ kind: 'outcome_unknown', retryable: false, httpStatus: 504 });
  });

  it.each([500, 502, 503])(
    'treats a %i on submit as transient: the server answered, nothing was created',
    (status) => {
      expect(classifyErrorAnswer(context('submit'), raw(status, {}))).toMatchObject({
        kind: 'transient',
        retryable: true,
      });
    },
  );

  it('carries the upstream code, message and validation detail of a 422', () => {
    // Prepare
    const body = {
      error_code: 422001,
      error: 'ValidationError',
      error_message: 'Input validation failed',
      detail: [
        { loc: ['body', 'image_urls', 0], msg: 'must be https', type: 'value_error' },
        { loc: ['body', 'guidance_scale'], msg: 'must be <= 20', type: 'value_error' },
        { loc: [], msg: 'body must be an object' },
        'ignored',
      ],
    };

    // Act
    const error = classifyErrorAnswer(context('submit'), raw(422, body));

    // Assess
    expect(error).toMatchObject({
      kind: 'invalid_input',
      code: 'RUNCOMFY_INVALID_INPUT',
      retryable: false,
      httpStatus: 422,
      upstreamCode: 422001,
      issues: [
        { path: 'image_urls/0', message: 'must be https' },
        { path: 'guidance_scale', message: 'must be <= 20' },
        { path: '(root)', message: 'body must be an object' },
      ],
    });
    expect(error.message).toContain('Input validation failed');
    expect(error.message).toContain('image_urls/0: must be https');
    expect(error.message).toContain('HTTP 422, error_code 422001');
  });

  it('reads a numeric-string error code', () => {
    expect(classifyErrorAnswer(context('status'), raw(400, { error_code: '400002' }))).toMatchObject({
      kind: 'billing',
      upstreamCode: 400002,
    });
  });

  it('reads Retry-After as seconds or as a date', () => {
    const seconds = classifyErrorAnswer(context('status'), raw(429, {}, { 'retry-after': '3' }));
    const date = classifyErrorAnswer(
      context('status'),
      raw(503, {}, { 'retry-after': 'Fri, 02 Jan 2026 03:04:25 GMT' }),
    );
    expect(seconds).toMatchObject({ kind: 'rate_limited', retryable: true, retryAfterMs: 3000 });
    expect(date).toMatchObject({ kind: 'transient', retryable: true, retryAfterMs: 20_000 });
  });

  it.each([
    [{ error_code: 400004, error_message: 'Invalid token' }, 'auth'],
    [{ error_code: 400002, error_message: 'No balance' }, 'billing'],
    [{ error_code: 404001, error_message: 'expired' }, 'not_found'],
    [{ error_code: 429001 }, 'rate_limited'],
    [{ error_code: 500001, error_message: 'Internal' }, 'transient'],
    [{ error_message: 'something odd' }, 'bad_response'],
    [{ error_code: 'WEIRD' }, 'bad_response'],
  ])('classifies the HTTP-200 error quirk %j by its code as %s', (body, kind) => {
    expect(classifyErrorAnswer(context('status'), raw(200, body), body)).toMatchObject({
      kind,
      httpStatus: 200,
    });
  });

  it('names the operation and the request in the message', () => {
    const error = classifyErrorAnswer(
      context('result'),
      raw(404, { error_code: 404001, error_message: 'Not found' }),
    );
    expect(error.message).toBe(
      `RunComfy result ${ID}: request not found or expired (HTTP 404, error_code 404001): Not found`,
    );
  });
});

describe('Function: the HTTP-200 error quirk on each endpoint', () => {
  const quirk = { error_code: 400004, error_message: 'Invalid token' };

  it.each([
    ['submit', () => readSubmitResponse(context('submit'), raw(200, quirk))],
    ['status', () => readStatusResponse(context('status'), raw(200, quirk))],
    ['result', () => readResultResponse(context('result'), raw(200, quirk))],
    ['cancel', () => readCancelResponse(context('cancel'), raw(200, quirk))],
  ])('%s throws the classified error', (_name, read) => {
    expect(thrown(read)).toMatchObject({
      kind: 'auth',
      code: 'RUNCOMFY_AUTH',
      httpStatus: 200,
      upstreamCode: 400004,
    });
  });
});

describe('Function: readCancelResponse', () => {
  it.each([
    [
      { request_id: ID, status: 'cancelled', outcome: 'cancelled' },
      { outcome: 'cancelled', rawStatus: 'cancelled' },
    ],
    [
      { request_id: ID, status: 'completed', outcome: 'cancelled' },
      { outcome: 'cancelled', rawStatus: 'completed' },
    ],
    [
      { request_id: ID, status: 'in_progress', outcome: 'not_cancellable' },
      { outcome: 'not_cancellable', rawStatus: 'in_progress' },
    ],
    [{ outcome: 'CANCELED' }, { outcome: 'cancelled' }],
    [{ outcome: 'not_cancelable' }, { outcome: 'not_cancellable' }],
    [{ status: 'cancellation_requested' }, { outcome: 'unknown', rawStatus: 'cancellation_requested' }],
    [{ status: 'cancelled' }, { outcome: 'unknown', rawStatus: 'cancelled' }],
  ])('keys on outcome: %j', (body, expected) => {
    expect(readCancelResponse(context('cancel'), raw(202, body))).toEqual(expected);
  });

  it("accepts the docs' malformed example (missing comma)", () => {
    // Prepare: verbatim from the docs
    const body = '{ "request_id": "{request_id}", "status": "completed" "outcome": "cancelled" }';

    // Act / Assess
    expect(readCancelResponse(context('cancel'), raw(202, body))).toEqual({
      outcome: 'cancelled',
      rawStatus: 'completed',
    });
  });

  it('warns and answers unknown for a body with no outcome at all', () => {
    const ctx = context('cancel');
    expect(readCancelResponse(ctx, raw(202, 'accepted'))).toEqual({ outcome: 'unknown' });
    expect(ctx.log.entries[0]?.level).toBe('warn');
  });

  it('throws not_found for an unknown id', () => {
    expect(
      thrown(() => readCancelResponse(context('cancel'), raw(404, { error_code: 404001 }))),
    ).toMatchObject({
      kind: 'not_found',
    });
  });
});
