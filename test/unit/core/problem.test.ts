import { describe, expect, it } from 'vitest';
import { PipelineError, ValidationError } from '#core/errors';
import { problemResponse } from '#core/http/problem';
import { silentLog } from '#core/log';

const bodyOf = (response: { body?: string }) => JSON.parse(response.body ?? '{}');

describe('Function: problemResponse', () => {
  it('answers a validation error with 400 problem+json naming each field', () => {
    // Act
    const response = problemResponse(
      new ValidationError('edit request is invalid', [
        { path: 'image_urls/0', message: 'must be an https:// URL' },
      ]),
      '/edits',
      silentLog,
    );

    // Assess
    expect(response.statusCode).toBe(400);
    expect(response.headers?.['content-type']).toBe('application/problem+json');
    expect(bodyOf(response)).toMatchObject({
      status: 400,
      code: 'INVALID_REQUEST',
      instance: '/edits',
      errors: [{ path: 'image_urls/0', message: 'must be an https:// URL' }],
    });
  });

  it('hides the details of unexpected errors and of 5xx pipeline errors', () => {
    const unexpected = problemResponse(
      new TypeError('x is undefined at /var/task/index.mjs:1:2'),
      '/edits',
      silentLog,
    );
    const internal = problemResponse(
      new PipelineError('CONFIG_INVALID', 'secret arn:aws:... bad'),
      '/edits',
      silentLog,
    );

    for (const response of [unexpected, internal]) {
      expect(response.statusCode).toBe(500);
      expect(response.body).not.toMatch(/var\/task|arn:aws|undefined/);
      expect(bodyOf(response)).toMatchObject({ code: 'INTERNAL_ERROR', type: 'about:blank' });
    }
  });

  it('keeps the detail of exposed 5xx errors that tell the caller to retry', () => {
    const response = problemResponse(
      new PipelineError('SERVICE_UNAVAILABLE', 'retry the request', { status: 503, expose: true }),
      '/edits',
      silentLog,
    );
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['retry-after']).toBe('1');
    expect(bodyOf(response)).toMatchObject({ code: 'SERVICE_UNAVAILABLE', detail: 'retry the request' });
  });
});
