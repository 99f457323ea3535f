import type { Clock } from '#core/clock';
import type { Log } from '#core/log';

/** What the client sent in one fetch call. */
export interface SentRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

export type Step =
  | Response
  | Error
  | ((request: SentRequest, signal: AbortSignal | undefined) => Promise<Response>);

/**
 * A fetch that answers from a script, one step per call, and records what was sent. Running out
 * of steps fails the test loudly instead of hanging.
 */
export function scriptedFetch(...steps: Step[]): typeof globalThis.fetch & { calls: SentRequest[] } {
  const calls: SentRequest[] = [];
  const fake = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const request: SentRequest = {
      url: String(input),
      method: init.method ?? 'GET',
      headers: Object.fromEntries(new Headers(init.headers).entries()),
      body: typeof init.body === 'string' ? init.body : undefined,
    };
    calls.push(request);
    const step = steps.shift();
    if (step === undefined)
      throw new Error(`unexpected fetch #${calls.length}: ${request.method} ${request.url}`);
    if (step instanceof Response) return step;
    if (step instanceof Error) throw step;
    return step(request, init.signal ?? undefined);
  };
  return Object.assign(fake as typeof globalThis.fetch, { calls });
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

export function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers });
}

/** Headers arrive, then the body stream breaks (a reset mid-body). */
export function brokenBody(status: number): Response {
  let sent = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(new TextEncoder().encode('{"request_id": "ab'));
        return;
      }
      controller.error(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }));
    },
  });
  return new Response(stream, { status, headers: { 'content-type': 'application/json' } });
}

function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** The shapes Node's fetch (undici) rejects with. */
export const networkErrors = {
  refused: () =>
    new TypeError('fetch failed', { cause: codedError('connect ECONNREFUSED 127.0.0.1:9', 'ECONNREFUSED') }),
  dns: () =>
    new TypeError('fetch failed', {
      cause: codedError('getaddrinfo ENOTFOUND nowhere.invalid', 'ENOTFOUND'),
    }),
  happyEyeballsRefused: () =>
    new TypeError('fetch failed', {
      cause: new AggregateError(
        [
          codedError('connect ECONNREFUSED ::1:9', 'ECONNREFUSED'),
          codedError('connect ENETUNREACH', 'ENETUNREACH'),
        ],
        'all addresses failed',
      ),
    }),
  reset: () => new TypeError('fetch failed', { cause: codedError('read ECONNRESET', 'ECONNRESET') }),
  socketClosed: () =>
    new TypeError('fetch failed', { cause: codedError('other side closed', 'UND_ERR_SOCKET') }),
  mixed: () =>
    new TypeError('fetch failed', {
      cause: new AggregateError([codedError('refused', 'ECONNREFUSED'), codedError('reset', 'ECONNRESET')]),
    }),
  timeout: () => new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
  uncoded: () => new TypeError('fetch failed'),
};

/** A clock whose sleeps return at once and move time forward, recording every delay. */
export function fakeClock(startMs = Date.parse('2026-01-02T03:04:05.000Z')): Clock & { sleeps: number[] } {
  let nowMs = startMs;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => nowMs,
    sleep: async (ms) => {
      sleeps.push(ms);
      nowMs += ms;
    },
  };
}

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  extra: object[];
}

export function recordingLog(): Log & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: LogEntry['level']) =>
    (message: string, ...extra: object[]) =>
      entries.push({ level, message, extra });
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
