import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { PipelineError, UnauthorizedError, ValidationError } from '../errors.ts';
import type { Log } from '../log.ts';

/** RFC 9457 problem details, with the pipeline's stable `code` and, for bad input, each bad field. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  code: string;
  errors?: { path: string; message: string }[];
  /** When a refusal ends (e.g. the next day of a spend cap). */
  reset_at?: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

export const problemType = (code: string) =>
  `https://github.com/flux-edit-pipeline/problems#${code.toLowerCase()}`;

/**
 * Maps any error to a problem response. Details are shown for errors meant for the caller
 * (`expose`, below 500); anything else becomes a bare 500 and is logged, never echoed, so no
 * stack trace, upstream body or secret reaches a caller.
 */
export function problemResponse(
  error: unknown,
  instance: string,
  log: Log,
): APIGatewayProxyStructuredResultV2 {
  const known = error instanceof PipelineError;
  const status = known ? error.status : 500;
  if (!known || status >= 500) log.error('request failed', { error });
  const expose = known && error.expose;
  const problem: Problem = {
    type: expose ? problemType(error.code) : 'about:blank',
    title: TITLES[status] ?? 'Error',
    status,
    code: expose ? error.code : 'INTERNAL_ERROR',
    detail: expose ? error.message : 'the request could not be completed; it is safe to retry',
    instance,
    errors: error instanceof ValidationError ? error.issues : undefined,
    reset_at: expose ? resetAtOf(error) : undefined,
  };
  const resetAt = problem.reset_at;
  return {
    statusCode: status,
    headers: {
      'content-type': 'application/problem+json',
      ...(status === 503 ? { 'retry-after': '1' } : {}),
      // RFC 6750: a refused bearer token is told so (no details: they would help a forger).
      ...(error instanceof UnauthorizedError ? { 'www-authenticate': error.challenge } : {}),
      ...(resetAt
        ? { 'retry-after': String(Math.max(1, Math.ceil((Date.parse(resetAt) - Date.now()) / 1000))) }
        : {}),
    },
    body: JSON.stringify(problem),
  };
}

export function jsonResponse(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

function resetAtOf(error: unknown): string | undefined {
  const resetAt = (error as { resetAt?: unknown }).resetAt;
  return typeof resetAt === 'string' ? resetAt : undefined;
}
