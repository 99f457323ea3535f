import type { Context, EventBridgeEvent, SQSEvent } from 'aws-lambda';
import * as z from 'zod/mini';
import { loadConfig } from '#contract/config';
import { ValidationError } from '#core/errors';
import { callerOf } from '#core/http/caller';
import { jsonResponse } from '#core/http/problem';
import { header, IdempotencyKeySchema, readJsonBody } from '#core/http/request';
import { type JobView, toJobView } from '#core/jobs/job-view';
import { trustedOwner } from '#core/jobs/owner';
import { rejectSubmission } from '#core/jobs/reject-submission';
import { submitEdit } from '#core/jobs/submit-edit';
import type { Log } from '#core/log';
import { type APIGatewayProxyEventV2, makeHandler, makeHttpHandler, makeSqsHandler } from '#shared/handler';
import { createJobDeps } from '#shared/job-deps';

const config = loadConfig();
const deps = createJobDeps(config, 'submit');

/**
 * One submit core, four ways in:
 * - `POST /edits` on the HTTP API (answers 202, or 400/415/422 problem+json);
 * - the submission queue, fed directly or by the EventBridge rule for `Edit Job Requested`;
 * - an EventBridge event delivered to the function itself;
 * - a direct invoke (e.g. the console's Test button) with the edit request as the event.
 */
export const handler = async (event: unknown, context: Context) => {
  if (isHttpEvent(event)) return handleHttp(event, context);
  if (isSqsEvent(event)) return handleQueue(event, context);
  return handleDirect(event, context);
};

const handleHttp = makeHttpHandler(async (event, { log }) => {
  const idempotencyKey = header(event, 'idempotency-key');
  if (idempotencyKey !== undefined && !IdempotencyKeySchema.safeParse(idempotencyKey).success) {
    throw new ValidationError('the Idempotency-Key header is invalid', [
      { path: 'headers/Idempotency-Key', message: 'must be 1–255 visible ASCII characters' },
    ]);
  }
  const { owner } = callerOf(event, config);
  const { job, created } = await submitEdit(
    { ...deps, log },
    { input: readJsonBody(event), owner, idempotencyKey },
  );
  log.info(created ? 'job accepted' : 'idempotent replay', { jobId: job.id, status: job.status });
  return jsonResponse(202, toJobView(job), {
    location: `/edits/${job.id}`,
    ...(created ? {} : { 'idempotent-replayed': 'true' }),
  });
});

/** A submission-queue body is the edit request itself, or the EventBridge event the rule forwarded. */
const handleQueue = makeSqsHandler(z.unknown(), async (body, record, { log }) => {
  const forwarded = isEventBridgeEvent(body);
  const request = forwarded ? body.detail : body;
  // Redeliveries of one message (or one event) carry the same id: they find the job already made.
  const dedupeKey = forwarded ? `event:${body.id}` : `sqs:${record.messageId}`;
  return submitMessage(
    request,
    forwarded ? `integration:eventbridge:${body.source}` : 'integration:sqs',
    dedupeKey,
    log,
  );
});

const handleDirect = makeHandler<unknown, { job: JobView }>(
  (event, { log, context }) =>
    isEventBridgeEvent(event)
      ? submitMessage(event.detail, `integration:eventbridge:${event.source}`, `event:${event.id}`, log)
      : submitMessage(event, 'integration:invoke', `invoke:${context.awsRequestId}`, log),
  (event) => (isEventBridgeEvent(event) ? { eventId: event.id } : {}),
);

/**
 * Submits an event-driven request. These sources are trusted (IAM lets only the stack's own
 * integrations reach them), so the request may name the `owner` it is submitted for — e.g. the
 * `jwt:<issuer>|<subject>` of an end user of a platform; otherwise the integration owns the job.
 * An invalid request becomes a `failed` job with its field errors and a completion event, and is
 * not retried: retrying cannot make it valid.
 */
async function submitMessage(
  request: unknown,
  integration: string,
  dedupeKey: string,
  log: Log,
): Promise<{ job: JobView }> {
  const { owner, input } = trustedOwner(request, integration);
  try {
    const { job } = await submitEdit({ ...deps, log }, { input, owner, idempotencyKey: dedupeKey });
    return { job: toJobView(job) };
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    const job = await rejectSubmission({ ...deps, log }, request, error, dedupeKey, owner);
    return { job: toJobView(job) };
  }
}

function isHttpEvent(event: unknown): event is APIGatewayProxyEventV2 {
  return typeof event === 'object' && event !== null && 'requestContext' in event && 'routeKey' in event;
}

function isSqsEvent(event: unknown): event is SQSEvent {
  const records = (event as { Records?: { eventSource?: string }[] } | null)?.Records;
  return Array.isArray(records) && records.every((record) => record.eventSource === 'aws:sqs');
}

function isEventBridgeEvent(event: unknown): event is EventBridgeEvent<string, unknown> {
  return (
    typeof event === 'object' &&
    event !== null &&
    'detail-type' in event &&
    'detail' in event &&
    'id' in event
  );
}
