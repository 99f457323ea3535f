import * as z from 'zod/mini';
import { ROUTES, type RouteDefinition } from '#contract/resources';
import { EditRequestSchema } from '../edit-request.ts';
import { ERROR_CODE } from '../errors.ts';
import { UploadRequestSchema } from '../inputs/create-upload.ts';
import { ListParamsSchema } from '../jobs/list-jobs.ts';
import { EventJobSchema } from '../notify/events.ts';
import { BATCH_SCHEMAS, batchOperations } from './openapi-batches.ts';
import { IdempotencyKeySchema, JobIdSchema } from './request.ts';

/*
 * The HTTP API's OpenAPI 3.1 document, generated from the schemas the functions validate with
 * (`npm run openapi` writes openapi.json; a test fails when the committed file or the routes
 * drift). Not bundled into any function: the jobs function serves the committed JSON.
 */

const ProblemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.int().check(z.gte(400), z.lte(599)),
  code: z.string().check(z.regex(ERROR_CODE), z.describe('Stable error code: branch on this')),
  detail: z.optional(z.string()),
  instance: z.optional(z.string()),
  errors: z.optional(
    z.array(
      z.object({
        path: z.string().check(z.describe('e.g. image_urls/0')),
        message: z.string(),
        line: z.optional(z.int().check(z.describe('A batch’s line (1-based)'))),
      }),
    ),
  ),
  reset_at: z.optional(z.string().check(z.describe('When a refusal ends (a spend cap: the next UTC day)'))),
});

/**
 * What the gateway itself answers, before any function runs (e.g. to a body too large): API
 * Gateway's `{"message"}`, or the local runtime's problem+json without a `code`.
 */
const GatewayErrorSchema = z.object({ message: z.string() });
const GatewayProblemSchema = z.object({ type: z.string(), title: z.string(), status: z.int() });

const WebhookViewSchema = z.object({
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.int(),
  last_attempt_at: z.optional(z.string()),
  last_status_code: z.optional(z.int()),
  last_error: z.optional(z.string()),
  delivered_at: z.optional(z.string()),
});

/** An output as events describe it (`job.outputs[]`), the one schema of its fields. */
const EventOutputSchema = EventJobSchema.shape.outputs.def.innerType.def.element;

/** The job as the HTTP API shows it: the events' view plus presigned URLs and webhook delivery. */
const JobViewSchema = z.extend(EventJobSchema, {
  outputs: z.optional(
    z.array(
      z.extend(EventOutputSchema, {
        url: z.optional(z.string().check(z.describe('Presigned GET URL, valid for 1 hour'))),
      }),
    ),
  ),
  webhook: z.optional(WebhookViewSchema.check(z.describe('Delivery of the completion webhook'))),
});

const UploadTicketSchema = z.object({
  upload_url: z.string().check(z.describe('Presigned PUT URL, valid for 15 minutes')),
  method: z.literal('PUT'),
  headers: z.record(z.string(), z.string()).check(z.describe('Send exactly these headers with the PUT')),
  s3_uri: z.string().check(z.describe('Submit this in image_urls')),
  expires_at: z.string(),
});

const schemas = {
  EditRequest: EditRequestSchema,
  Job: JobViewSchema,
  UploadRequest: UploadRequestSchema,
  UploadTicket: UploadTicketSchema,
  Problem: ProblemSchema,
  GatewayError: GatewayErrorSchema,
  GatewayProblem: GatewayProblemSchema,
  JobList: z.object({
    items: z.array(JobViewSchema),
    next_token: z.optional(
      z.string().check(z.describe('Pass as next_token for the next page; absent on the last page')),
    ),
  }),
  ...BATCH_SCHEMAS,
};

type SchemaName = keyof typeof schemas;
const ref = (name: SchemaName) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: SchemaName) => ({ content: { 'application/json': { schema: ref(name) } } });
const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ref('Problem') } },
});
/** A parameter's schema, from the zod schema the function checks it with. */
const parameterSchema = (schema: z.ZodMiniType) => {
  const {
    $schema: _,
    description,
    ...rest
  } = z.toJSONSchema(schema, {
    io: 'input',
    target: 'draft-2020-12',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return { ...(description ? { description } : {}), schema: rest };
};
const idParameter = { name: 'id', in: 'path', required: true, ...parameterSchema(JobIdSchema) };
const tooLarge = {
  description:
    'The body is too large, answered before any function runs: by the local runtime over 1 MiB (problem+json without a `code`), by API Gateway over 10 MB (its own `{"message"}`)',
  content: {
    'application/problem+json': { schema: ref('GatewayProblem') },
    'application/json': { schema: ref('GatewayError') },
  },
};
/** `GET /edits/{id}` and the other operations on a job, from a response that carries its `id`. */
const jobLinks = {
  GetEdit: { operationId: 'getEdit', parameters: { id: '$response.body#/id' } },
  CancelEdit: { operationId: 'cancelEdit', parameters: { id: '$response.body#/id' } },
  DeleteEdit: { operationId: 'deleteEdit', parameters: { id: '$response.body#/id' } },
  ResendNotification: { operationId: 'resendNotification', parameters: { id: '$response.body#/id' } },
};

/** What each route does. Every route in infra/definition.ts must have an entry (a test checks). */
const OPERATIONS: Record<string, Record<string, unknown>> = {
  'POST /edits': {
    operationId: 'submitEdit',
    summary: 'Submit an image edit',
    description:
      'Validates the request, records the job and submits it to RunComfy. With an Idempotency-Key, a retried request returns the first job.',
    parameters: [
      { name: 'Idempotency-Key', in: 'header', required: false, ...parameterSchema(IdempotencyKeySchema) },
    ],
    requestBody: { required: true, ...json('EditRequest') },
    responses: {
      '202': {
        description: 'Accepted: the job, queued (or, with a replayed Idempotency-Key, the first job)',
        headers: {
          Location: { schema: { type: 'string' } },
          'Idempotent-Replayed': { schema: { type: 'string', enum: ['true'] } },
        },
        ...json('Job'),
        links: jobLinks,
      },
      '400': problem('Invalid request: `errors` names each bad field'),
      '413': tooLarge,
      '415': problem(
        '`UNSUPPORTED_MEDIA_TYPE`: the body is not sent as application/json (or another +json type)',
      ),
      '422': problem('`IDEMPOTENCY_KEY_REUSED`: the Idempotency-Key was used with another body'),
      '429': problem('`SPEND_CAP_REACHED`: the daily spend cap is reached; `reset_at` says until when'),
      '503': problem('The job could not be queued; nothing was recorded, retry'),
    },
  },
  'GET /edits': {
    operationId: 'listEdits',
    summary: 'List the caller’s jobs (an admin’s: everyone’s), newest first',
    description:
      'Served from DynamoDB indexes. Filters combine; `next_token` is opaque and signed together with the filters, and stays correct while new jobs arrive. A page may hold fewer than `limit` jobs and still carry a `next_token`: a very selective filter examines at most a bounded number of candidates per request, and a slow or throttling table ends the page early (after a bounded time, or before a job it would not read).',
    parameters: Object.entries(ListParamsSchema.shape).map(([name, schema]) => ({
      name,
      in: 'query',
      ...parameterSchema(schema),
    })),
    responses: {
      '200': { description: 'A page of jobs (without presigned output URLs)', ...json('JobList') },
      '400': problem('A bad filter or cursor: `errors` names it'),
      '503': problem(
        'DynamoDB would not read the first job of the page (throttled); no job was skipped, retry',
      ),
    },
  },
  'GET /edits/{id}': {
    operationId: 'getEdit',
    summary: 'Read a job, with presigned URLs for its outputs',
    parameters: [idParameter],
    responses: { '200': { description: 'The job', ...json('Job') }, '404': problem('No such job') },
  },
  'DELETE /edits/{id}': {
    operationId: 'deleteEdit',
    summary: 'Delete a finished job and its outputs',
    description:
      'Idempotent: deleting a deleted job answers 204 again. Announces `Edit Job Deleted` on EventBridge.',
    parameters: [idParameter],
    responses: {
      '204': { description: 'Deleted (now or before)' },
      '404': problem('No such job'),
      '409': problem('`JOB_ACTIVE`: the job has not ended; cancel it first'),
    },
  },
  'POST /edits/{id}/cancel': {
    operationId: 'cancelEdit',
    summary: 'Cancel a job RunComfy has not started',
    parameters: [idParameter],
    responses: {
      '200': { description: 'The cancelled job', ...json('Job') },
      '202': {
        description:
          'RunComfy could not be asked right now: the request is recorded (`cancel_requested_at`) and retried with the job’s status checks while RunComfy has not started it',
        ...json('Job'),
      },
      '404': problem('No such job'),
      '409': problem('`NOT_CANCELLABLE`: running or already ended'),
    },
  },
  'POST /uploads': {
    operationId: 'createUpload',
    summary: 'Get a presigned PUT for an input image, or a batch manifest',
    requestBody: { required: true, ...json('UploadRequest') },
    responses: {
      '201': { description: 'Where to PUT the image, and its s3:// URI', ...json('UploadTicket') },
      '400': problem('Invalid request: `errors` names each bad field'),
      '413': tooLarge,
      '415': problem(
        '`UNSUPPORTED_MEDIA_TYPE`: the body is not sent as application/json (or another +json type)',
      ),
    },
  },
  'POST /edits/{id}/notifications/resend': {
    operationId: 'resendNotification',
    summary: 'Send the completion webhook again',
    parameters: [idParameter],
    responses: {
      '202': { description: 'The job, with its webhook delivery pending again', ...json('Job') },
      '404': problem('No such job'),
      '409': problem('`JOB_NOT_FINISHED`: the job has not ended yet'),
      '422': problem('`NO_WEBHOOK_URL`: the job was submitted without a webhook_url'),
    },
  },
  ...batchOperations({ json, problem, idParameter }),
  'GET /openapi.json': {
    operationId: 'getOpenApi',
    summary: 'This document',
    responses: { '200': { description: 'OpenAPI 3.1', content: { 'application/json': { schema: {} } } } },
  },
};

export const routeKey = (route: Pick<RouteDefinition, 'method' | 'path'>) => `${route.method} ${route.path}`;

/** Builds the document for `routes` (the pipeline's, by default). */
export function buildOpenApiDocument(routes: readonly RouteDefinition[] = ROUTES) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const operation = OPERATIONS[routeKey(route)];
    if (!operation) throw new Error(`no OpenAPI operation for ${routeKey(route)}`);
    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'flux-edit-pipeline',
      version: '1.0.0',
      description:
        'FLUX.2 [flash] image edits on RunComfy, from your AWS account. Errors are RFC 9457 problem+json.',
    },
    servers: [
      {
        url: 'https://{apiId}.execute-api.{region}.amazonaws.com',
        variables: { apiId: { default: 'api' }, region: { default: 'us-east-1' } },
      },
    ],
    // One of the two, as the stack is deployed (`apiAuthorization`).
    security: [{ sigv4: [] }, { jwt: [] }],
    paths,
    components: {
      securitySchemes: {
        sigv4: {
          type: 'apiKey',
          name: 'Authorization',
          in: 'header',
          description: 'AWS Signature Version 4 (service execute-api): stacks with IAM auth (the default)',
        },
        jwt: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'A JWT of the configured issuer and audience: stacks with JWT auth (and the local runtime with API_AUTH=jwt)',
        },
      },
      schemas: referEditRequests(
        Object.fromEntries(
          Object.entries(schemas).map(([name, schema]) => [
            name,
            // Requests are described as callers send them (defaults optional), responses as sent.
            z.toJSONSchema(schema, {
              io: name.endsWith('Request') ? 'input' : 'output',
              target: 'draft-2020-12',
              unrepresentable: 'any',
            }) as Record<string, unknown>,
          ]),
        ),
      ),
    },
  };
}

/** A batch's inline requests are edit requests: one schema (and its examples) in the document, referred to. */
function referEditRequests(generated: Record<string, Record<string, unknown>>) {
  const requests = (generated.BatchRequest?.properties as Record<string, Record<string, unknown>> | undefined)
    ?.requests;
  if (requests) requests.items = ref('EditRequest');
  return generated;
}
