import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import * as z from 'zod/mini';
import { PipelineError, ValidationError } from '../errors.ts';

/** `Idempotency-Key`: 1–255 visible ASCII characters (the header's value as the API documents it). */
export const IdempotencyKeySchema = z
  .string()
  .check(
    z.regex(/^[\x21-\x7e]{1,255}$/, 'must be 1–255 visible ASCII characters'),
    z.describe('Retrying with the same key and body returns the first job (`Idempotent-Replayed: true`)'),
  );

/** A job id in a path: anything else cannot name a job, and answers 404 without a read. */
export const JobIdSchema = z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/));

/**
 * Reads a JSON body from an HTTP API event, with a specific error for each way it can be wrong.
 * The body must be said to be JSON (`application/json` or `…+json`): anything else, or no
 * Content-Type at all, is a 415, so a form post or a text body is never guessed at.
 */
export function readJsonBody(event: APIGatewayProxyEventV2): unknown {
  const contentType = header(event, 'content-type') ?? '';
  if (!/^application\/(.+\+)?json\b/i.test(contentType)) {
    throw new PipelineError('UNSUPPORTED_MEDIA_TYPE', 'send the request body as application/json', {
      status: 415,
    });
  }
  if (!event.body)
    throw new ValidationError('the request has no body', [{ path: '(root)', message: 'is required' }]);
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError('the request body is not valid JSON', [
      { path: '(root)', message: 'must be valid JSON' },
    ]);
  }
}

/** Header lookup that does not depend on the caller's capitalisation. */
export function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}
