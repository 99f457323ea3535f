import * as z from 'zod/mini';
import { BATCH_LIMITS, BATCH_STATUSES } from '../batches/batch.ts';
import { EditRequestSchema } from '../edit-request.ts';

/*
 * The batch routes' part of the OpenAPI document (see openapi-document.ts): their schemas, as
 * the API validates and answers, and their operations.
 */

const count = z.int().check(z.gte(0));
const LineIssueSchema = z.object({
  line: z.int().check(z.describe('The line (1-based; for inline requests, the request’s position)')),
  path: z.string().check(z.describe('The field, e.g. image_urls/0')),
  message: z.string(),
});

/** The body of `POST /batches`, as documented (the API checks each request itself, line by line). */
const BatchRequestSchema = z.object({
  requests: z.optional(
    z
      .array(EditRequestSchema)
      .check(
        z.minLength(1),
        z.maxLength(BATCH_LIMITS.inlineRequests),
        z.describe('The edit requests themselves (exactly one of requests and manifest)'),
      ),
  ),
  manifest: z.optional(
    z
      .string()
      .check(
        z.describe(
          `The s3_uri of a JSONL manifest you uploaded (POST /uploads, content_type application/x-ndjson): one edit request per line, at most ${BATCH_LIMITS.manifestLines} lines and 50 MiB`,
        ),
      ),
  ),
  on_invalid: z._default(
    z
      .enum(['refuse', 'skip'])
      .check(
        z.describe('refuse: a batch with a bad line is refused; skip: bad lines are left out and reported'),
      ),
    'refuse',
  ),
});

const BatchSchema = z.object({
  id: z.string(),
  status: z.enum(BATCH_STATUSES),
  owner: z.string(),
  source: z.enum(['inline', 'manifest']),
  manifest: z.optional(z.string()),
  on_invalid: z.enum(['refuse', 'skip']),
  created_at: z.string(),
  updated_at: z.string(),
  lines: z.optional(count.check(z.describe('Edit requests in the batch, once validated'))),
  invalid_lines: z.optional(count),
  errors: z.optional(z.array(LineIssueSchema).check(z.describe('The first bad lines'))),
  invalid_lines_uri: z.optional(z.string().check(z.describe('JSONL of every bad line: {"line", "errors"}'))),
  invalid_lines_url: z.optional(z.string().check(z.describe('Presigned GET URL of it, valid for 1 hour'))),
  error: z.optional(
    z
      .object({ code: z.string(), message: z.string() })
      .check(
        z.describe('Why the batch was refused: INVALID_LINES, MANIFEST_NOT_FOUND, MANIFEST_TOO_LARGE, …'),
      ),
  ),
  counts: z.object({
    pending: count.check(z.describe('Valid lines whose job is not made yet')),
    queued: count,
    running: count,
    succeeded: count,
    failed: count,
    cancelled: count,
    expired: count,
  }),
  jobs_created: count,
  cost: z.number().check(z.describe('USD RunComfy charged for the batch’s jobs that ended so far')),
  cancel_requested_at: z.optional(z.string()),
  completed_at: z.optional(z.string()),
  results: z.optional(
    z
      .object({
        s3_uri: z.string(),
        url: z.optional(z.string().check(z.describe('Presigned GET URL, valid for 1 hour'))),
      })
      .check(
        z.describe(
          'The results manifest (JSONL: line, job_id, status, caller_reference, outputs with sha256, error, cost), once completed',
        ),
      ),
  ),
});

export const BATCH_SCHEMAS = { BatchRequest: BatchRequestSchema, Batch: BatchSchema };

interface Helpers {
  json(name: 'Batch' | 'BatchRequest'): Record<string, unknown>;
  problem(description: string): Record<string, unknown>;
  idParameter: Record<string, unknown>;
}

export function batchOperations({
  json,
  problem,
  idParameter,
}: Helpers): Record<string, Record<string, unknown>> {
  return {
    'POST /batches': {
      operationId: 'submitBatch',
      summary: 'Submit a batch of edits',
      description: `Up to ${BATCH_LIMITS.inlineRequests} edit requests inline, or a JSONL manifest of up to ${BATCH_LIMITS.manifestLines} lines. Inline requests are checked here (a bad one refuses the batch with 400, naming each line and field); a manifest is checked line by line by the batch function (GET the batch: refused with its errors, or creating). Each line becomes a normal job (GET /edits?batch_id=). With an Idempotency-Key, a retried request returns the first batch.`,
      parameters: [
        {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
        },
      ],
      requestBody: { required: true, ...json('BatchRequest') },
      responses: {
        '202': {
          description: 'Accepted: the batch, validating',
          headers: { Location: { schema: { type: 'string' } } },
          ...json('Batch'),
        },
        '400': problem('Invalid request: `errors` names each bad line (`line`) and field (`path`)'),
        '415': problem('The body is not JSON'),
        '422': problem('The Idempotency-Key was used with another body'),
        '429': problem('`SPEND_CAP_REACHED`: today’s spend reached the daily cap'),
        '503': problem('The batch could not be queued (nothing was recorded: retry), or batches are off'),
      },
    },
    'GET /batches/{id}': {
      operationId: 'getBatch',
      summary: 'Read a batch: its status, counts per job status, cost and results',
      parameters: [idParameter],
      responses: {
        '200': { description: 'The batch', ...json('Batch') },
        '404': problem('No such batch'),
        '503': problem('DynamoDB would not read all of the batch’s counts (throttled): retry'),
      },
    },
    'POST /batches/{id}/cancel': {
      operationId: 'cancelBatch',
      summary: 'Cancel a batch’s jobs that have not started',
      description:
        'Recorded at once and carried out by the batch function: lines not made yet get a cancelled job, jobs waiting or queued at RunComfy are cancelled, running ones finish. The batch then completes as usual.',
      parameters: [idParameter],
      responses: {
        '202': { description: 'The batch, with cancel_requested_at', ...json('Batch') },
        '404': problem('No such batch'),
        '409': problem('`NOT_CANCELLABLE`: the batch already ended, or was refused'),
      },
    },
  };
}
