/**
 * Classifying RunComfy's error answers — a non-2xx status, a body that cannot be read, or the
 * "HTTP 200 with `error_code`" quirk — into a typed {@link RunComfyError} with a readable message.
 */
import * as z from 'zod/mini';
import type { Log } from '../log.ts';
import { RunComfyError, type RunComfyErrorKind, type RunComfyOperation } from './errors.ts';
import { parseRetryAfterMs, type RawResponse } from './http.ts';
import { describeUpstreamError, detailIssues, MESSAGE_LENGTH, truncate } from './upstream-values.ts';

const SNIPPET_LENGTH = 500;

export interface ReadContext {
  operation: RunComfyOperation;
  /** Milliseconds since the epoch, for Retry-After dates. */
  nowMs: number;
  requestId?: string;
  log: Log;
}

/** A field that is read when it has the expected type and ignored (not fatal) otherwise. */
export const lenient = <T extends z.ZodMiniType>(schema: T) => z.catch(z.optional(schema), undefined);

const upstreamCodeSchema = z.union([z.number(), z.string()]);

const errorEnvelopeSchema = () =>
  z.looseObject({
    error_code: lenient(upstreamCodeSchema),
    code: lenient(upstreamCodeSchema),
    error_message: lenient(z.string()),
    message: lenient(z.string()),
    error: z.optional(z.unknown()),
    detail: z.optional(z.unknown()),
  });
type ErrorEnvelope = z.infer<ReturnType<typeof errorEnvelopeSchema>>;
/** Built by the first error answer: most cold starts never see one. */
let ErrorEnvelopeSchema: ReturnType<typeof errorEnvelopeSchema> | undefined;

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

function upstreamCodeOf(envelope: ErrorEnvelope): number | string | undefined {
  const code = envelope.error_code ?? envelope.code;
  if (typeof code === 'string' && /^\d+$/.test(code.trim())) return Number(code);
  return code;
}

function snippetOf(body: string | undefined): string | undefined {
  return body === undefined || body === '' ? undefined : truncate(body, SNIPPET_LENGTH);
}

export function parseJson(body: string): { ok: true; value: unknown } | { ok: false } {
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
  ErrorEnvelopeSchema ??= errorEnvelopeSchema();
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
export function isErrorEnvelope(value: unknown, expectedKey: string): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  return !(expectedKey in record) && ('error_code' in record || 'error_message' in record);
}

/**
 * The JSON body of a 2xx answer, or the error it stands for: a non-2xx status, an unreadable
 * body, non-JSON, or the HTTP-200 error quirk (detected when the key this call expects is absent).
 */
export function readSuccessBody(ctx: ReadContext, raw: RawResponse, expectedKey: string): unknown {
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

export function issuesText(error: z.core.$ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
}
