import { describe, expect, it, vi } from 'vitest';
import { apiErrorFrom, FluxEditApiError, FluxEditClient } from '../../../client/index.ts';

const problemResponse = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/problem+json', ...headers },
  });

describe('Function: apiErrorFrom', () => {
  it('reads the code, detail and field errors of a problem body', async () => {
    // Prepare
    const response = problemResponse(
      400,
      {
        type: 'https://github.com/flux-edit-pipeline/problems#invalid_request',
        title: 'Bad Request',
        status: 400,
        code: 'INVALID_REQUEST',
        detail: 'the edit request is invalid',
        instance: '/edits',
        errors: [
          { path: 'guidance_scale', message: 'must be ≤ 20' },
          { path: 'image_urls/1', message: 'must be an https:// URL or an s3://bucket/key URI' },
        ],
      },
      { 'apigw-requestid': 'Ab1CdEfGhIjKlMn=' },
    );

    // Act
    const error = await apiErrorFrom(response);

    // Assess
    expect(error).toBeInstanceOf(FluxEditApiError);
    expect(error).toMatchObject({
      status: 400,
      code: 'INVALID_REQUEST',
      title: 'Bad Request',
      detail: 'the edit request is invalid',
      message: 'the edit request is invalid',
      requestId: 'Ab1CdEfGhIjKlMn=',
      errors: [
        { path: 'guidance_scale', message: 'must be ≤ 20' },
        { path: 'image_urls/1', message: 'must be an https:// URL or an s3://bucket/key URI' },
      ],
    });
  });

  it('keeps the lower-case code of a conflict as the API sends it', async () => {
    const error = await apiErrorFrom(
      problemResponse(409, { status: 409, code: 'not_cancellable', detail: 'the job already started' }),
    );

    expect(error).toMatchObject({
      status: 409,
      code: 'not_cancellable',
      detail: 'the job already started',
      errors: [],
    });
  });

  it('understands API Gateway’s own {"message"} answers', async () => {
    const error = await apiErrorFrom(
      new Response(JSON.stringify({ message: 'Forbidden' }), {
        status: 403,
        headers: { 'content-type': 'application/json', 'x-amzn-requestid': 'req-1' },
      }),
    );

    expect(error).toMatchObject({ status: 403, code: 'HTTP_403', detail: 'Forbidden', requestId: 'req-1' });
  });

  it('keeps only a short, one-line prefix of a body that is not JSON', async () => {
    // Prepare
    const html = `<html>\n<body>${'Bad gateway '.repeat(100)}</body></html>`;

    // Act
    const error = await apiErrorFrom(
      new Response(html, { status: 502, headers: { 'content-type': 'text/html' } }),
    );

    // Assess
    expect(error.code).toBe('HTTP_502');
    expect(error.detail).not.toContain('\n');
    expect(error.detail!.length).toBeLessThanOrEqual(200);
  });

  it('reads how long to wait from Retry-After', async () => {
    const error = await apiErrorFrom(
      problemResponse(503, { status: 503, code: 'X' }, { 'retry-after': '2' }),
    );

    expect(error.retryAfterMs).toBe(2000);
  });

  it('ignores field errors that are not {path, message} objects', async () => {
    const error = await apiErrorFrom(
      problemResponse(400, {
        status: 400,
        code: 'INVALID_REQUEST',
        errors: ['bad', { message: 'no path' }, null],
      }),
    );

    expect(error.errors).toEqual([{ path: '(root)', message: 'no path' }]);
  });
});

describe('Class: FluxEditClient (API errors)', () => {
  it('rejects with FluxEditApiError when a job does not exist, without retrying', async () => {
    // Prepare
    const fetch = vi.fn(async () =>
      problemResponse(404, { status: 404, code: 'NOT_FOUND', detail: 'no job with id x' }),
    );
    const client = new FluxEditClient({
      apiUrl: 'http://127.0.0.1:1',
      fetch: fetch as unknown as typeof globalThis.fetch,
    });

    // Act
    const error = await client.get('x').catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(FluxEditApiError);
    expect(error).toMatchObject({ status: 404, code: 'NOT_FOUND', detail: 'no job with id x' });
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('rejects a cancel of a started job with code not_cancellable', async () => {
    const fetch = vi.fn(async () =>
      problemResponse(409, { status: 409, code: 'not_cancellable', detail: 'the job has started' }),
    );
    const client = new FluxEditClient({
      apiUrl: 'http://127.0.0.1:1',
      fetch: fetch as unknown as typeof globalThis.fetch,
    });

    await expect(client.cancel('job1')).rejects.toMatchObject({ status: 409, code: 'not_cancellable' });
  });
});
