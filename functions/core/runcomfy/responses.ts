/**
 * Reading RunComfy's answers. The Model API's bodies are only partly documented and official
 * clients disagree on spellings, so every reader here is deliberately tolerant: loose objects,
 * lenient optional fields, every status spelling seen in the wild, `error` of any JSON type.
 * What cannot be read becomes a typed {@link RunComfyError}, never a crash.
 */
import * as z from 'zod/mini';
import {
  badResponse,
  classifyErrorAnswer,
  isErrorEnvelope,
  issuesText,
  lenient,
  parseJson,
  type ReadContext,
  readSuccessBody,
  unreadableBody,
} from './error-answers.ts';
import type { RawResponse } from './http.ts';
import {
  CANCELLED,
  FAILED,
  normalizeStatus,
  QUEUED,
  RUNNING,
  SUCCEEDED,
  statusStateOf,
  type UpstreamState,
} from './status-spellings.ts';
import { describeUpstreamError, extractOutputUrls } from './upstream-values.ts';

export interface UpstreamStatus {
  state: UpstreamState;
  /** The status string exactly as RunComfy sent it. */
  rawStatus: string;
  queuePosition?: number;
}

export type UpstreamResultState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'unknown';

export interface UpstreamResult {
  state: UpstreamResultState;
  rawStatus: string;
  /** Every output URL, deduplicated, in the order RunComfy listed them. Empty unless `succeeded`. */
  outputUrls: string[];
  /** Why the run failed: a readable message and RunComfy's `error` value as sent. */
  error?: { message: string; raw: unknown };
  createdAt?: string;
  finishedAt?: string;
  /** USD charged for the run (the client asks with `include_cost=true`). */
  cost?: number;
}

export interface CancelOutcome {
  /** `not_cancellable`: the run already started or ended (only queued requests can be cancelled). */
  outcome: 'cancelled' | 'not_cancellable' | 'unknown';
  rawStatus?: string;
}

/** The request-id alphabet the official partner client enforces; ids are opaque otherwise. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

const SubmitResponseSchema = z.looseObject({
  request_id: z.string().check(z.regex(REQUEST_ID_PATTERN)),
});

const StatusResponseSchema = z.looseObject({
  request_id: lenient(z.string()),
  status: z.string(),
  queue_position: lenient(z.union([z.number(), z.string()])),
});

const ResultResponseSchema = z.looseObject({
  request_id: lenient(z.string()),
  status: z.string(),
  output: z.optional(z.unknown()),
  error: z.optional(z.unknown()),
  error_message: lenient(z.string()),
  created_at: lenient(z.string()),
  finished_at: lenient(z.string()),
  cost: lenient(z.union([z.number(), z.string()])),
});

const CancelResponseSchema = z.looseObject({
  outcome: lenient(z.string()),
  status: lenient(z.string()),
});

// Per-endpoint readers

/** `POST /v1/models/{model}` → the request id (the URLs in the body are ignored: we rebuild them). */
export function readSubmitResponse(ctx: ReadContext, raw: RawResponse): { requestId: string } {
  const body = readSuccessBody(ctx, raw, 'request_id');
  const parsed = SubmitResponseSchema.safeParse(body);
  if (!parsed.success) throw badResponse(ctx, raw, `no usable request_id: ${issuesText(parsed.error)}`);
  return { requestId: parsed.data.request_id };
}

function finiteNumber(value: number | string | undefined): number | undefined {
  const numeric = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof numeric === 'number' && Number.isFinite(numeric) ? numeric : undefined;
}

function warnIfOtherRequest(ctx: ReadContext, returned: string | undefined): void {
  if (returned !== undefined && ctx.requestId !== undefined && returned !== ctx.requestId) {
    ctx.log.warn('RunComfy answered for a different request id', {
      operation: ctx.operation,
      requestId: ctx.requestId,
      returnedRequestId: returned,
    });
  }
}

/** `GET /v1/requests/{id}/status`. */
export function readStatusResponse(ctx: ReadContext, raw: RawResponse): UpstreamStatus {
  const body = readSuccessBody(ctx, raw, 'status');
  const parsed = StatusResponseSchema.safeParse(body);
  if (!parsed.success) throw badResponse(ctx, raw, issuesText(parsed.error));
  warnIfOtherRequest(ctx, parsed.data.request_id);
  const rawStatus = parsed.data.status;
  const state = statusStateOf(rawStatus);
  if (state === 'unknown') {
    ctx.log.warn('RunComfy returned an unknown status', { requestId: ctx.requestId, rawStatus });
  }
  const queuePosition = finiteNumber(parsed.data.queue_position);
  return queuePosition === undefined ? { state, rawStatus } : { state, rawStatus, queuePosition };
}

/** `GET /v1/requests/{id}/result`: the outcome, its URLs, or why it failed. */
export function readResultResponse(ctx: ReadContext, raw: RawResponse): UpstreamResult {
  const body = readSuccessBody(ctx, raw, 'status');
  const parsed = ResultResponseSchema.safeParse(body);
  if (!parsed.success) throw badResponse(ctx, raw, issuesText(parsed.error));
  const data = parsed.data;
  warnIfOtherRequest(ctx, data.request_id);

  const rawStatus = data.status;
  const status = normalizeStatus(rawStatus);
  const outputUrls = extractOutputUrls(data.output);
  const errorValue = data.error ?? data.error_message;
  const errorMessage = describeUpstreamError(errorValue);
  const error = errorMessage === undefined ? undefined : { message: errorMessage, raw: errorValue };

  let state: UpstreamResultState;
  if (SUCCEEDED.has(status)) {
    // `completed` is what a failed run's status says too, so only URLs make it a success.
    state = outputUrls.length > 0 ? 'succeeded' : error !== undefined ? 'failed' : 'unknown';
  } else if (FAILED.has(status)) state = 'failed';
  else if (CANCELLED.has(status)) state = 'cancelled';
  else if (QUEUED.has(status)) state = 'queued';
  else if (RUNNING.has(status)) state = 'running';
  else state = 'unknown';

  if (state === 'unknown') {
    ctx.log.warn('RunComfy returned a result it cannot place', {
      requestId: ctx.requestId,
      rawStatus,
      hasOutput: data.output !== undefined,
    });
  }

  const result: UpstreamResult = { state, rawStatus, outputUrls: state === 'succeeded' ? outputUrls : [] };
  if (state === 'failed') {
    result.error = error ?? {
      message: `RunComfy reported the run as ${rawStatus} without a reason`,
      raw: null,
    };
  } else if (error !== undefined && state !== 'succeeded') result.error = error;
  if (data.created_at !== undefined) result.createdAt = data.created_at;
  if (data.finished_at !== undefined) result.finishedAt = data.finished_at;
  const cost = finiteNumber(data.cost);
  if (cost !== undefined) result.cost = cost;
  return result;
}

function outcomeOf(raw: string | undefined): CancelOutcome['outcome'] {
  const outcome = raw === undefined ? '' : normalizeStatus(raw);
  if (CANCELLED.has(outcome)) return 'cancelled';
  if (outcome === 'not_cancellable' || outcome === 'not_cancelable') return 'not_cancellable';
  return 'unknown';
}

function stringField(text: string, key: string): string | undefined {
  return new RegExp(`"${key}"\\s*:\\s*"([^"\\\\]{0,64})"`).exec(text)?.[1];
}

/**
 * `POST /v1/requests/{id}/cancel` (202). Keys on `outcome`, not `status` (which may say
 * `completed` even for an accepted cancel). The documented example body is not valid JSON (a
 * missing comma), so a body that does not parse is searched for `"outcome": "..."` instead.
 */
export function readCancelResponse(ctx: ReadContext, raw: RawResponse): CancelOutcome {
  if (raw.status < 200 || raw.status >= 300) throw classifyErrorAnswer(ctx, raw);
  if (raw.body === undefined) throw unreadableBody(ctx, raw);
  const parsed = parseJson(raw.body);

  let rawOutcome: string | undefined;
  let rawStatus: string | undefined;
  if (parsed.ok) {
    if (isErrorEnvelope(parsed.value, 'outcome')) throw classifyErrorAnswer(ctx, raw, parsed.value);
    const body = CancelResponseSchema.safeParse(parsed.value);
    rawOutcome = body.success ? body.data.outcome : undefined;
    rawStatus = body.success ? body.data.status : undefined;
  } else {
    rawOutcome = stringField(raw.body, 'outcome');
    rawStatus = stringField(raw.body, 'status');
  }

  const outcome = outcomeOf(rawOutcome);
  if (outcome === 'unknown') {
    ctx.log.warn('RunComfy cancel answer has no recognisable outcome', {
      requestId: ctx.requestId,
      rawOutcome,
      rawStatus,
      httpStatus: raw.status,
    });
  }
  return rawStatus === undefined ? { outcome } : { outcome, rawStatus };
}
