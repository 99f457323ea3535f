/**
 * Reading RunComfy's answers. The Model API's bodies are only partly documented and official
 * clients disagree on spellings, so every reader here is deliberately tolerant: loose objects,
 * lenient optional fields, every status spelling seen in the wild, `error` of any JSON type.
 * What cannot be read becomes a typed {@link RunComfyError}, never a crash.
 */
import * as z from 'zod/mini';
import type { FieldIssue } from '../errors.ts';
import type { Log } from '../log.ts';
import { RunComfyError, type RunComfyErrorKind, type RunComfyOperation } from './errors.ts';
import { parseRetryAfterMs, type RawResponse } from './http.ts';

/** The status endpoint's view: `finished` means "stop polling and read the result". */
export type UpstreamState = 'queued' | 'running' | 'finished' | 'unknown';

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

const SNIPPET_LENGTH = 500;
const MESSAGE_LENGTH = 1_000;

export interface ReadContext {
  operation: RunComfyOperation;
  /** Milliseconds since the epoch, for Retry-After dates. */
  nowMs: number;
  requestId?: string;
  log: Log;
}

// ---------------------------------------------------------------------------------------------
// Schemas

/** A field that is read when it has the expected type and ignored (not fatal) otherwise. */
const lenient = <T extends z.ZodMiniType>(schema: T) => z.catch(z.optional(schema), undefined);

const upstreamCodeSchema = z.union([z.number(), z.string()]);

const ErrorEnvelopeSchema = z.looseObject({
  error_code: lenient(upstreamCodeSchema),
  code: lenient(upstreamCodeSchema),
  error_message: lenient(z.string()),
  message: lenient(z.string()),
  error: z.optional(z.unknown()),
  detail: z.optional(z.unknown()),
});

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

// ---------------------------------------------------------------------------------------------
// Status spellings

/** Lower-case, `IN-PROGRESS`/`in progress` → `in_progress`. */
export function normalizeStatus(raw: string): string {
  return raw
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
}

const FINISHED = new Set(['completed', 'succeeded', 'failed', 'error', 'cancelled', 'canceled']);
const QUEUED = new Set(['in_queue', 'queued', 'pending']);
const RUNNING = new Set(['in_progress', 'running', 'processing', 'started']);
const SUCCEEDED = new Set(['succeeded', 'completed']);
const FAILED = new Set(['failed', 'error']);
const CANCELLED = new Set(['cancelled', 'canceled']);

/** Maps a status-endpoint spelling; `unknown` for anything never seen (the caller keeps polling). */
export function statusStateOf(rawStatus: string): UpstreamState {
  const status = normalizeStatus(rawStatus);
  if (FINISHED.has(status)) return 'finished';
  if (QUEUED.has(status)) return 'queued';
  if (RUNNING.has(status)) return 'running';
  return 'unknown';
}

// ---------------------------------------------------------------------------------------------
// Output URLs and error values

const OUTPUT_KEYS = ['image', 'images', 'video', 'videos'] as const;
const MAX_SCAN_DEPTH = 6;

function asHttpUrl(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  return /^https?:\/\/\S+$/i.test(text) && URL.canParse(text) ? text : undefined;
}

/** A string, an array of strings, or fal-style `{ url }` objects (and arrays of them). */
function urlsOf(value: unknown): string[] {
  const items = Array.isArray(value) ? value : [value];
  return items.flatMap((item) => {
    const url = asHttpUrl(item) ?? asHttpUrl((item as { url?: unknown } | null)?.url);
    return url === undefined ? [] : [url];
  });
}

function scanForUrls(value: unknown, depth: number, found: string[]): void {
  if (depth > MAX_SCAN_DEPTH) return;
  const url = asHttpUrl(value);
  if (url !== undefined) found.push(url);
  else if (Array.isArray(value)) for (const item of value) scanForUrls(item, depth + 1, found);
  else if (typeof value === 'object' && value !== null)
    for (const item of Object.values(value)) scanForUrls(item, depth + 1, found);
}

/**
 * Every output URL under `output.image`, `images`, `video`, `videos` (each a string or an array),
 * in that order, deduplicated. If none of those keys holds a URL, any URL-looking string anywhere
 * under `output` is taken instead, so an unexpected key name does not lose a paid-for result.
 *
 * @example extractOutputUrls({ image: 'https://x/a.png', images: ['https://x/a.png', 'https://x/b.png'] })
 * // ['https://x/a.png', 'https://x/b.png']
 */
export function extractOutputUrls(output: unknown): string[] {
  if (typeof output !== 'object' || output === null) return [...new Set(urlsOf(output))];
  const record = output as Record<string, unknown>;
  const named = OUTPUT_KEYS.flatMap((key) => urlsOf(record[key]));
  if (named.length > 0) return [...new Set(named)];
  const found: string[] = [];
  scanForUrls(output, 0, found);
  return [...new Set(found)];
}

const MESSAGE_KEYS = [
  'error_message',
  'message',
  'error',
  'msg',
  'reason',
  'detail',
  'errorMessage',
  'description',
];
const CODE_KEYS = ['error_code', 'errorCode', 'code'];

function truncate(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length)}…`;
}

/**
 * A readable message for RunComfy's `error`, whatever its JSON type: a string, a JSON-encoded
 * string, `{error_code, error_message}`, the Serverless API's `[{errorCode, error, debugInfo}]`,
 * a FastAPI `detail` list, or a bare number. `undefined` when there is nothing to say.
 */
export function describeUpstreamError(value: unknown, depth = 0): string | undefined {
  if (value === null || value === undefined || depth > MAX_SCAN_DEPTH) return undefined;
  if (typeof value === 'string') {
    const text = value.trim();
    if (text === '') return undefined;
    if (/^[[{"]/.test(text)) {
      try {
        return describeUpstreamError(JSON.parse(text), depth + 1) ?? text;
      } catch {
        return truncate(text, MESSAGE_LENGTH);
      }
    }
    return truncate(text, MESSAGE_LENGTH);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) {
    const parts = value.map((item) => describeUpstreamError(item, depth + 1)).filter((part) => part);
    return parts.length > 0 ? truncate([...new Set(parts)].join('; '), MESSAGE_LENGTH) : undefined;
  }
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const text = MESSAGE_KEYS.map((key) => describeUpstreamError(record[key], depth + 1)).find(
      (part) => part,
    );
    const code = CODE_KEYS.map((key) => record[key]).find(
      (candidate) => typeof candidate === 'number' || (typeof candidate === 'string' && candidate !== ''),
    );
    const where = Array.isArray(record.loc) ? record.loc.map(String).join('.') : undefined;
    const located = text !== undefined && where ? `${where}: ${text}` : text;
    if (located !== undefined)
      return truncate(code === undefined ? located : `${located} (code ${code})`, MESSAGE_LENGTH);
    if (code !== undefined) return `error code ${code}`;
    const json = JSON.stringify(value);
    return json === '{}' ? undefined : truncate(json, MESSAGE_LENGTH);
  }
  return undefined;
}

/** FastAPI-style `detail: [{loc: ['body', 'seed'], msg}]` as field issues (`seed`). */
export function detailIssues(detail: unknown): FieldIssue[] | undefined {
  if (!Array.isArray(detail)) return undefined;
  const issues = detail.flatMap((item): FieldIssue[] => {
    if (typeof item !== 'object' || item === null) return [];
    const { loc, msg, message } = item as { loc?: unknown; msg?: unknown; message?: unknown };
    const text = typeof msg === 'string' ? msg : typeof message === 'string' ? message : undefined;
    if (text === undefined) return [];
    const path = Array.isArray(loc)
      ? loc.map(String).filter((part, index) => index > 0 || part !== 'body')
      : [];
    return [{ path: path.length === 0 ? '(root)' : path.join('/'), message: truncate(text, MESSAGE_LENGTH) }];
  });
  return issues.length > 0 ? issues : undefined;
}

// ---------------------------------------------------------------------------------------------
// Error classification

/** Kind by HTTP status alone (CLI and partner-node mapping). */
export function kindOfHttpStatus(status: number): RunComfyErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 402) return 'billing';
  if (status === 404 || status === 410) return 'not_found';
  if (status === 429) return 'rate_limited';
  if (status === 408 || status >= 500) return 'transient';
  if (status >= 400) return 'invalid_input';
  return 'bad_response';
}

/**
 * Kind by RunComfy's six-digit `error_code`. The documented codes first (400004 is an auth error
 * and 400002 a balance error despite their 400 prefix); otherwise the first three digits are the
 * HTTP status the code belongs to (403001, 404001, 422001, 429001, 500001).
 */
export function kindOfUpstreamCode(code: number | string | undefined): RunComfyErrorKind | undefined {
  const numeric = typeof code === 'string' && /^\d+$/.test(code.trim()) ? Number(code) : code;
  if (typeof numeric !== 'number' || !Number.isInteger(numeric) || numeric < 100_000 || numeric > 999_999)
    return undefined;
  if (numeric === 400004) return 'auth';
  if (numeric === 400002) return 'billing';
  if (numeric === 400001) return 'invalid_input';
  const kind = kindOfHttpStatus(Math.floor(numeric / 1000));
  return kind === 'bad_response' ? undefined : kind;
}

const SUMMARY: Record<RunComfyErrorKind, string> = {
  auth: 'authentication failed',
  billing: 'insufficient balance',
  invalid_input: 'input rejected',
  not_found: 'request not found or expired',
  rate_limited: 'rate limited',
  transient: 'temporarily unavailable',
  outcome_unknown: 'outcome unknown: the request may have been accepted',
  bad_response: 'unexpected response',
};

function upstreamCodeOf(envelope: z.infer<typeof ErrorEnvelopeSchema>): number | string | undefined {
  const code = envelope.error_code ?? envelope.code;
  if (typeof code === 'string' && /^\d+$/.test(code.trim())) return Number(code);
  return code;
}

function snippetOf(body: string | undefined): string | undefined {
  return body === undefined || body === '' ? undefined : truncate(body, SNIPPET_LENGTH);
}

function parseJson(body: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(body) };
  } catch {
    return { ok: false };
  }
}

function buildMessage(
  ctx: ReadContext,
  kind: RunComfyErrorKind,
  parts: { httpStatus?: number; upstreamCode?: number | string; detail?: string },
): string {
  const facts = [
    parts.httpStatus === undefined ? undefined : `HTTP ${parts.httpStatus}`,
    parts.upstreamCode === undefined ? undefined : `error_code ${parts.upstreamCode}`,
  ].filter(Boolean);
  const subject =
    ctx.requestId === undefined ? `RunComfy ${ctx.operation}` : `RunComfy ${ctx.operation} ${ctx.requestId}`;
  const head = `${subject}: ${SUMMARY[kind]}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}`;
  return parts.detail ? `${head}: ${truncate(parts.detail, MESSAGE_LENGTH)}` : head;
}

/** An error for an answer that arrived but could not be used. */
export function badResponse(ctx: ReadContext, raw: RawResponse, why: string, cause?: unknown): RunComfyError {
  // A submit that reached RunComfy and got a 2xx we cannot read probably created a (charged) job.
  const kind: RunComfyErrorKind =
    ctx.operation === 'submit' && raw.status >= 200 && raw.status < 300 ? 'outcome_unknown' : 'bad_response';
  return new RunComfyError(buildMessage(ctx, kind, { httpStatus: raw.status, detail: why }), {
    kind,
    operation: ctx.operation,
    httpStatus: raw.status,
    rawSnippet: snippetOf(raw.body),
    requestId: ctx.requestId,
    cause,
  });
}

/**
 * Classifies an error answer: a non-2xx status, or a 2xx whose body is an error envelope (the
 * "HTTP 200 with `error_code`" quirk some RunComfy endpoints have). For 429 and 5xx the status
 * decides (they say "try again", whatever the body); otherwise a known `error_code` decides,
 * then the HTTP status.
 */
export function classifyErrorAnswer(ctx: ReadContext, raw: RawResponse, parsedBody?: unknown): RunComfyError {
  const json = parsedBody ?? (raw.body === undefined ? undefined : parseJsonValue(raw.body));
  const envelope = ErrorEnvelopeSchema.safeParse(json);
  const fields = envelope.success ? envelope.data : undefined;
  const upstreamCode = fields === undefined ? undefined : upstreamCodeOf(fields);
  const is2xx = raw.status >= 200 && raw.status < 300;

  let kind: RunComfyErrorKind;
  if (!is2xx && (raw.status === 429 || raw.status === 408 || raw.status >= 500)) {
    kind = kindOfHttpStatus(raw.status);
    // A gateway timeout on submit means a proxy passed the POST on and never heard back: the
    // job may exist. (A 500/502/503 is an answer that the request failed or was refused.)
    if (ctx.operation === 'submit' && raw.status === 504) kind = 'outcome_unknown';
  } else {
    kind = kindOfUpstreamCode(upstreamCode) ?? (is2xx ? 'bad_response' : kindOfHttpStatus(raw.status));
  }

  const detail =
    fields === undefined
      ? undefined
      : describeUpstreamError({
          error_message: fields.error_message,
          message: fields.message,
          error: fields.error,
          detail: typeof fields.detail === 'string' ? fields.detail : undefined,
        });
  const issues = kind === 'invalid_input' && fields !== undefined ? detailIssues(fields.detail) : undefined;
  const issueText = issues?.map((issue) => `${issue.path}: ${issue.message}`).join('; ');
  const retryAfterMs = parseRetryAfterMs(raw.headers.get('retry-after'), ctx.nowMs);

  return new RunComfyError(
    buildMessage(ctx, kind, {
      httpStatus: raw.status,
      upstreamCode,
      detail: [detail, issueText].filter(Boolean).join(' — ') || undefined,
    }),
    {
      kind,
      operation: ctx.operation,
      httpStatus: raw.status,
      upstreamCode,
      retryAfterMs,
      issues,
      rawSnippet: snippetOf(raw.body),
      requestId: ctx.requestId,
    },
  );
}

function parseJsonValue(body: string): unknown {
  const parsed = parseJson(body);
  return parsed.ok ? parsed.value : undefined;
}

/** A 2xx body that is RunComfy's error envelope rather than the expected answer. */
function isErrorEnvelope(value: unknown, expectedKey: string): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  return !(expectedKey in record) && ('error_code' in record || 'error_message' in record);
}

/**
 * The JSON body of a 2xx answer, or the error it stands for: a non-2xx status, an unreadable
 * body, non-JSON, or the HTTP-200 error quirk (detected when the key this call expects is absent).
 */
function readSuccessBody(ctx: ReadContext, raw: RawResponse, expectedKey: string): unknown {
  if (raw.status < 200 || raw.status >= 300) throw classifyErrorAnswer(ctx, raw);
  if (raw.body === undefined) throw unreadableBody(ctx, raw);
  const parsed = parseJson(raw.body);
  if (!parsed.ok) throw badResponse(ctx, raw, 'body is not JSON');
  if (isErrorEnvelope(parsed.value, expectedKey)) throw classifyErrorAnswer(ctx, raw, parsed.value);
  return parsed.value;
}

/**
 * The headers arrived but the body did not (reset, timeout mid-body). For a submit the job may
 * exist; a read or a cancel can simply be repeated.
 */
export function unreadableBody(ctx: ReadContext, raw: RawResponse): RunComfyError {
  const kind: RunComfyErrorKind = ctx.operation === 'submit' ? 'outcome_unknown' : 'transient';
  return new RunComfyError(
    buildMessage(ctx, kind, { httpStatus: raw.status, detail: 'response body was cut off' }),
    {
      kind,
      operation: ctx.operation,
      httpStatus: raw.status,
      requestId: ctx.requestId,
      cause: raw.bodyError,
    },
  );
}

function issuesText(error: z.core.$ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
}

// ---------------------------------------------------------------------------------------------
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
