import type { IncomingHttpHeaders } from 'node:http';
import { catalogEntry } from './catalog.ts';
import type { SimContext } from './context.ts';
import { ApiError } from './errors.ts';
import type { Job } from './job.ts';
import { parseScript, SCRIPT_HEADER, scriptFromPrompt } from './script.ts';
import { FLASH_EDIT_MODEL_ID, validateEditInput } from './validation.ts';
import { errorField, isoTimestamp, outputField, outputUrls, resultStatusOf, statusOf } from './wire.ts';

/**
 * RunComfy Model API endpoints E1–E5 (reference §3.3), as pure request -> response functions.
 * Errors are thrown as {@link ApiError}; the server turns them into the §3.6 error body.
 */

export interface ApiResponse {
  status: number;
  body: unknown;
  /** Commit the work, then destroy the socket instead of answering (a lost submit response). */
  dropAfterCommit?: boolean;
  /** The job a submit created (for the books when its answer is lost). */
  createdJob?: Job;
}

export const KNOWN_MODELS = [FLASH_EDIT_MODEL_ID];

/** The user a bearer token belongs to, or 400004 (HTTP per `auth_error_http`). */
export function authenticate(ctx: SimContext, headers: IncomingHttpHeaders): string {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '');
  const userId = match ? ctx.knobs.tokens[match[1]!] : undefined;
  if (userId === undefined) {
    throw new ApiError(400004, match ? 'Invalid or expired API token' : 'Missing bearer token', {
      httpStatus: ctx.knobs.auth_error_http,
    });
  }
  return userId;
}

export function unknownModel(ctx: SimContext, modelId: string): ApiError {
  return new ApiError(400001, `Model '${modelId}' not found`, { httpStatus: ctx.knobs.unknown_model_http });
}

/**
 * E1 `POST /v1/models/{model_id}`: auth, model, schema, the account's concurrency (`max_in_flight`,
 * [INF]: where a real limit would sit is unknown), balance, then create (§3.3 order).
 */
export function submit(
  ctx: SimContext,
  modelId: string,
  headers: IncomingHttpHeaders,
  rawBody: Buffer,
): ApiResponse {
  const { knobs } = ctx;
  const userId = authenticate(ctx, headers);
  if (!KNOWN_MODELS.includes(modelId)) throw unknownModel(ctx, modelId);

  let body: unknown;
  try {
    body = JSON.parse(rawBody.toString('utf8'));
  } catch (error) {
    throw new ApiError(422001, 'Input validation failed', {
      detail: [
        { loc: ['body'], msg: `JSON decode error: ${(error as Error).message}`, type: 'json_invalid' },
      ],
    });
  }
  const validation = validateEditInput(body, knobs);
  if (!validation.ok) throw new ApiError(422001, 'Input validation failed', { detail: validation.detail });

  const limit = knobs.max_in_flight;
  if (limit !== null && ctx.store.inFlight(userId) >= limit) {
    ctx.stats.refusedByConcurrencyLimit();
    // A 429 like the rate limit's: `http200_error_quirk` leaves it alone.
    throw new ApiError(429001, `Too many requests in flight (at most ${limit} queued or running)`, {
      injected: true,
      headers: knobs.send_retry_after ? { 'Retry-After': String(knobs.retry_after_s) } : {},
    });
  }

  const balance = ctx.store.balance(userId);
  if (balance !== null && balance < knobs.price_per_request_usd) {
    throw new ApiError(400002, 'Insufficient balance', { httpStatus: knobs.insufficient_http });
  }

  const header = headers[SCRIPT_HEADER];
  const headerScript = parseScript(Array.isArray(header) ? header.join(';') : (header ?? ''));
  const promptScript = scriptFromPrompt(validation.input.prompt, knobs);
  const script = { ...ctx.pendingScripts.shift(), ...promptScript, ...headerScript };
  const job = ctx.store.create({ userId, modelId, input: validation.input, script });
  ctx.stats.jobCreated();

  const base = `${ctx.urls.baseUrl}/v1/requests/${job.id}`;
  return {
    status: 200,
    body: knobs.drop_urls_in_submit
      ? { request_id: job.id }
      : {
          request_id: job.id,
          status_url: `${base}/status`,
          result_url: `${base}/result`,
          cancel_url: `${base}/cancel`,
        },
    dropAfterCommit: knobs.close_connection_on_submit_after_commit || job.script.drop_response === true,
    createdJob: job,
  };
}

/** A request of this user that still exists: else 404001 (unknown or expired) or 403001. */
export function ownedJob(ctx: SimContext, requestId: string, userId: string): Job {
  const job = ctx.store.find(requestId);
  if (!job || ctx.store.recordExpired(job)) {
    throw new ApiError(404001, `Request '${requestId}' not found or expired`);
  }
  if (job.userId !== userId) throw new ApiError(403001, `Request '${requestId}' belongs to another user`);
  return job;
}

/** E2 `GET /v1/requests/{id}/status`. */
export function status(ctx: SimContext, requestId: string, headers: IncomingHttpHeaders): ApiResponse {
  const job = ownedJob(ctx, requestId, authenticate(ctx, headers));
  const base = `${ctx.urls.baseUrl}/v1/requests/${job.id}`;
  const ahead = ctx.store.jobsAhead(job);
  const body = {
    request_id: job.id,
    status: statusOf(job, ctx.knobs),
    ...(ahead === undefined ? {} : { queue_position: ahead + ctx.knobs.queue_position_base }),
    status_url: `${base}/status`,
    result_url: `${base}/result`,
  };
  ctx.store.notePoll(job);
  return { status: 200, body };
}

/** E3 `GET /v1/requests/{id}/result[?include_cost=true]`: 200 in every state while the record exists. */
export function result(
  ctx: SimContext,
  requestId: string,
  headers: IncomingHttpHeaders,
  query: URLSearchParams,
): ApiResponse {
  const { knobs } = ctx;
  const job = ownedJob(ctx, requestId, authenticate(ctx, headers));
  const body: Record<string, unknown> = { request_id: job.id, status: resultStatusOf(job, knobs) };
  if (job.state === 'succeeded') body.output = outputField(outputUrls(ctx, job), knobs.output_key);
  if (job.state === 'failed') {
    body.error = errorField(
      job.failReason ?? knobs.error_message,
      job.script.error_shape ?? knobs.error_shape,
    );
  }
  body.created_at = isoTimestamp(job.createdAt);
  if (job.finishedAt !== undefined) body.finished_at = isoTimestamp(job.finishedAt);
  if (query.get('include_cost') === 'true') body.cost = job.chargedUsd;
  ctx.store.notePoll(job);
  return { status: 200, body };
}

/** E4 `POST /v1/requests/{id}/cancel`: 202 always; only queued jobs are cancelled. */
export function cancel(ctx: SimContext, requestId: string, headers: IncomingHttpHeaders): ApiResponse {
  const job = ownedJob(ctx, requestId, authenticate(ctx, headers));
  const outcome = ctx.store.cancel(job);
  return {
    status: 202,
    body: {
      request_id: job.id,
      status: outcome === 'cancelled' ? ctx.knobs.cancel_status_field : statusOf(job, ctx.knobs),
      outcome,
    },
  };
}

/** E5 `GET /v1/models` (list) and `GET /v1/models/{model_id}` (one model with its schema). */
export function catalog(
  ctx: SimContext,
  modelId: string | undefined,
  headers: IncomingHttpHeaders,
  query: URLSearchParams,
): ApiResponse {
  authenticate(ctx, headers);
  if (modelId !== undefined) {
    if (!KNOWN_MODELS.includes(modelId)) throw unknownModel(ctx, modelId);
    return { status: 200, body: catalogEntry(modelId, ctx.knobs, true) };
  }
  const withSchema = query.get('include_schema') === 'true';
  const search = query.get('search')?.toLowerCase();
  const category = query.get('category');
  const models = KNOWN_MODELS.map((id) => catalogEntry(id, ctx.knobs, withSchema)).filter(
    (model) =>
      (!search || `${model.model_id} ${model.display_name}`.toLowerCase().includes(search)) &&
      (!category || model.categories.includes(category)),
  );
  const offset = Number(query.get('offset') ?? 0) || 0;
  const limit = Number(query.get('limit') ?? 50) || 50;
  return { status: 200, body: { models: models.slice(offset, offset + limit), total: models.length } };
}
