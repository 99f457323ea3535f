import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SimulatorAdmin } from './admin.ts';
import { ADMIN_PREFIX, handleAdmin } from './admin-routes.ts';
import { type ApiResponse, cancel, catalog, result, status, submit } from './api.ts';
import type { SimContext } from './context.ts';
import { ApiError, renderApiError, SimulatorError } from './errors.ts';
import type { FaultAction } from './faults.ts';
import { FORMAT_FILES } from './images.ts';
import type { Job } from './job.ts';
import type { Endpoint } from './stats.ts';

/** Data-URI inputs can be large (the partner node allows 64 MiB per request). */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

interface Route {
  endpoint: Endpoint;
  /** Methods this path answers; anything else is 405. */
  allow: string[];
  run: (request: ParsedRequest) => Promise<Reply> | Reply;
}

interface ParsedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  req: IncomingMessage;
  body: Buffer;
}

type Reply =
  | (ApiResponse & { kind?: 'json'; headers?: Record<string, string> })
  | {
      kind: 'bytes';
      status: number;
      body: Buffer;
      headers: Record<string, string>;
      head: boolean;
      /** The output file served, for its books. */
      file?: { job: Job; index: number };
    };

/**
 * Builds the node:http server: admin routes, then latency and slow answers, faults, rate limit, then
 * the API and files; a submit's answer may then be lost, a download cut off mid-body.
 */
export function createSimulatorServer(ctx: SimContext, admin: SimulatorAdmin): Server {
  return createServer((req, res) => {
    handle(ctx, admin, req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error_code: 500001, error_message: String(error) });
      else res.destroy();
    });
  });
}

async function handle(ctx: SimContext, admin: SimulatorAdmin, req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url ?? '/', 'http://simulator.invalid');
  const method = (req.method ?? 'GET').toUpperCase();
  const path = url.pathname;
  const body = await readBody(req);

  if (path === ADMIN_PREFIX || path.startsWith(`${ADMIN_PREFIX}/`)) {
    return await answerAdmin(admin, method, path, body, res);
  }

  const route = resolveRoute(ctx, method, path);
  ctx.stats.arrived(route.endpoint);
  const respond = (reply: Reply | 'dropped') => {
    ctx.stats.answered(route.endpoint, reply === 'dropped' ? 'dropped' : reply.status);
    if (reply === 'dropped') return void req.socket.destroy();
    sendReply(res, reply);
  };

  if (ctx.knobs.latency_ms > 0) await sleep(ctx.knobs.latency_ms);
  if (ctx.knobs.p_slow > 0 && ctx.rng.next() < ctx.knobs.p_slow) {
    ctx.stats.injected('slow');
    await sleep(ctx.knobs.slow_ms);
  }
  const fault = ctx.faults.take({ method, path, endpoint: route.endpoint }, ctx.knobs, ctx.rng);
  if (fault?.kind === 'drop' && fault.when === 'before') {
    ctx.stats.injected('fail_next_drop');
    return respond('dropped');
  }
  if (fault?.kind === 'status') {
    ctx.stats.injected(fault.fault);
    return respond(faultReply(fault));
  }

  const reply = await runRoute(ctx, route, { method, path, query: url.searchParams, req, body });
  if (fault?.kind === 'drop' || ('dropAfterCommit' in reply && reply.dropAfterCommit)) {
    const created = 'createdJob' in reply ? reply.createdJob : undefined;
    if (created) {
      created.submitAnswerDropped = true;
      ctx.stats.injected('submit_dropped_after_commit');
    } else {
      ctx.stats.injected('fail_next_drop');
    }
    return respond('dropped');
  }
  if (reply.kind === 'bytes' && reply.file && reply.status === 200 && !reply.head) {
    if (ctx.knobs.p_file_reset > 0 && ctx.rng.next() < ctx.knobs.p_file_reset) {
      // The headers and half the body, then the connection goes: a reset mid-download.
      const sent = reply.body.subarray(0, Math.floor(reply.body.length / 2));
      ctx.stats.injected('file_reset');
      ctx.stats.fileBytes(sent.length);
      ctx.stats.answered(route.endpoint, 'dropped');
      res.writeHead(reply.status, { ...reply.headers, 'Content-Length': reply.body.length });
      res.write(sent, () => req.socket.destroy());
      return;
    }
    ctx.stats.fileBytes(reply.body.length);
    const books = reply.file.job.files[reply.file.index];
    if (books) books.downloads++;
  }
  respond(reply);
}

async function runRoute(ctx: SimContext, route: Route, request: ParsedRequest): Promise<Reply> {
  try {
    if (!route.allow.includes(request.method)) {
      throw new ApiError(405001, `Method ${request.method} not allowed`, {
        headers: { Allow: route.allow.join(', ') },
      });
    }
    if (request.path.startsWith('/v1/')) {
      const token = /^Bearer\s+(\S+)/i.exec(request.req.headers.authorization ?? '')?.[1] ?? '(none)';
      const retryAfterS = ctx.faults.overRateLimit(token, ctx.clock.now(), ctx.knobs);
      if (retryAfterS !== undefined) {
        ctx.stats.injected('rate_limit');
        throw new ApiError(429001, 'Rate limit exceeded', {
          injected: true,
          headers: ctx.knobs.send_retry_after ? { 'Retry-After': String(retryAfterS) } : {},
        });
      }
    }
    if (request.body.length > MAX_BODY_BYTES) throw new ApiError(413001, 'Request body too large');
    return await route.run(request);
  } catch (error) {
    if (error instanceof ApiError) {
      const rendered = renderApiError(error, ctx.knobs);
      return { status: rendered.status, body: rendered.body, headers: error.headers };
    }
    if (error instanceof SimulatorError) {
      return { status: error.status, body: { error: error.code, message: error.message } };
    }
    throw error;
  }
}

function resolveRoute(ctx: SimContext, method: string, path: string): Route {
  const filesPrefix = `${ctx.urls.filesPath}/outputs/`;
  if (path.startsWith(filesPrefix)) {
    return {
      endpoint: 'file',
      allow: ['GET', 'HEAD'],
      run: (request) => serveOutput(ctx, request, filesPrefix),
    };
  }
  const trimmed = path.replace(/\/+$/, '');
  if (trimmed === '/v1/models') {
    return {
      endpoint: 'catalog',
      allow: ['GET'],
      run: (r) => catalog(ctx, undefined, r.req.headers, r.query),
    };
  }
  if (trimmed.startsWith('/v1/models/')) {
    const modelId = decodeURIComponent(trimmed.slice('/v1/models/'.length));
    return {
      // GET on a model path is the catalog's single-model read (E5); everything else counts as a submit.
      endpoint: method === 'GET' ? 'catalog' : 'submit',
      allow: ['POST', 'GET'],
      run: (r) =>
        r.method === 'GET'
          ? catalog(ctx, modelId, r.req.headers, r.query)
          : submit(ctx, modelId, r.req.headers, r.body),
    };
  }
  const request = /^\/v1\/requests\/([^/]+)\/(status|result|cancel)$/.exec(trimmed);
  if (request) {
    const id = decodeURIComponent(request[1]!);
    switch (request[2] as 'status' | 'result' | 'cancel') {
      case 'status':
        return { endpoint: 'status', allow: ['GET'], run: (r) => status(ctx, id, r.req.headers) };
      case 'result':
        return { endpoint: 'result', allow: ['GET'], run: (r) => result(ctx, id, r.req.headers, r.query) };
      case 'cancel':
        return { endpoint: 'cancel', allow: ['POST'], run: (r) => cancel(ctx, id, r.req.headers) };
    }
  }
  return {
    endpoint: 'unknown',
    allow: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    run: () => {
      throw new ApiError(404001, `No route for ${path}`);
    },
  };
}

/**
 * §3.7: no auth, no redirects; 404 (or `output_expired_http`) once the output TTL has passed, and
 * 404 (as for an unknown file) while a job's files are not ready (`file_not_ready_s`).
 */
async function serveOutput(ctx: SimContext, request: ParsedRequest, prefix: string): Promise<Reply> {
  const notFound = (status = 404): Reply => ({
    kind: 'bytes',
    status,
    body: Buffer.from(status === 404 ? 'Not Found' : 'Forbidden'),
    headers: { 'Content-Type': 'text/plain' },
    head: request.method === 'HEAD',
  });
  const match = /^([^/]+)\/(\d+)\.([a-z]+)$/.exec(request.path.slice(prefix.length));
  const job = match ? ctx.store.find(decodeURIComponent(match[1]!)) : undefined;
  if (!match || !job || job.state !== 'succeeded') return notFound();
  const index = Number(match[2]);
  const file = FORMAT_FILES[job.input.output_format];
  if (index >= job.outputCount || match[3] !== file.ext) return notFound();
  if (ctx.store.outputExpired(job)) return notFound(ctx.knobs.output_expired_http);
  if (ctx.store.filesNotReady(job)) {
    ctx.stats.injected('file_not_ready');
    return notFound();
  }
  const bytes = await ctx.outputs.bytes(job, index);
  return {
    kind: 'bytes',
    status: 200,
    body: bytes,
    headers: { 'Content-Type': file.contentType, 'Cache-Control': 'public, max-age=31536000, immutable' },
    head: request.method === 'HEAD',
    file: { job, index },
  };
}

function faultReply(fault: Extract<FaultAction, { kind: 'status' }>): Reply {
  const headers: Record<string, string> =
    fault.retryAfterS === undefined ? {} : { 'Retry-After': String(fault.retryAfterS) };
  if (fault.body === 'text') {
    const text = `<html><body><h1>${fault.status} Service Error</h1></body></html>`;
    return {
      kind: 'bytes',
      status: fault.status,
      body: Buffer.from(text),
      headers: { ...headers, 'Content-Type': 'text/html' },
      head: false,
    };
  }
  const code = fault.status === 429 ? 429001 : fault.status >= 500 ? 500001 : fault.status * 1000 + 1;
  const message = fault.status === 429 ? 'Rate limit exceeded' : 'Simulated upstream error';
  return {
    status: fault.status,
    body: {
      error_code: code,
      error: fault.status === 429 ? 'RateLimitExceeded' : 'InternalServerError',
      error_message: message,
    },
    headers,
  };
}

function sendReply(res: ServerResponse, reply: Reply): void {
  if (reply.kind === 'bytes') {
    res.writeHead(reply.status, { ...reply.headers, 'Content-Length': reply.body.length });
    res.end(reply.head ? undefined : reply.body);
    return;
  }
  sendJson(res, reply.status, reply.body, reply.headers);
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function answerAdmin(
  admin: SimulatorAdmin,
  method: string,
  path: string,
  body: Buffer,
  res: ServerResponse,
): Promise<void> {
  try {
    const text = body.toString('utf8').trim();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new SimulatorError('INVALID_ADMIN_BODY', 'admin request body must be JSON');
    }
    const reply = await handleAdmin(admin, method, path, parsed);
    sendJson(res, reply.status, reply.body);
  } catch (error) {
    if (error instanceof SimulatorError) {
      sendJson(res, error.status, { error: error.code, message: error.message });
    } else {
      throw error;
    }
  }
}

/** Reads the whole body; past the cap it keeps draining but stops storing (the route answers 413). */
async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES + 1) chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
