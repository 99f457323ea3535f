import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { problemResponse } from '#core/http/problem';
import type { Log } from '#core/log';
import { silentLog } from '#core/log';
import type { FunctionName, RouteDefinition } from '../contract/index.ts';

export interface HttpApiOptions {
  routes: RouteDefinition[];
  /** Invokes a function with an API Gateway event and returns what the handler returned. */
  invoke: (functionName: FunctionName, event: APIGatewayProxyEventV2) => Promise<unknown>;
  accountId: string;
  /** @default 0 (an ephemeral port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Larger request bodies get 413 before any handler runs. @default 1 MiB */
  maxBodyBytes?: number;
  /**
   * The routes' authorizer (every route has it, as the construct's default authorizer): what it
   * returns becomes `requestContext.authorizer`; an error is answered as problem+json (its
   * `UnauthorizedError` as 401) before the body is read or any handler runs. @default none
   */
  authorize?: (headers: IncomingMessage['headers']) => Promise<object>;
  /**
   * Answers requests whose path no route has (the web console), or returns false for a 404.
   * Routes always come first: nothing here can shadow the API.
   */
  site?: (request: IncomingMessage, response: ServerResponse) => Promise<boolean>;
  log?: Log;
}

export interface HttpApi {
  /** `http://127.0.0.1:<port>` (the `$default` stage is served at the root, as in API Gateway). */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

interface CompiledRoute {
  route: RouteDefinition;
  routeKey: string;
  pattern: RegExp;
  parameterNames: string[];
}

interface RouteMatch {
  route: CompiledRoute;
  pathParameters: Record<string, string>;
}

class BodyTooLargeError extends Error {}

/**
 * Serves the routes of infra/definition.ts like an API Gateway HTTP API with Lambda proxy
 * integrations (payload format 2.0): each request becomes an `APIGatewayProxyEventV2`, and
 * the handler's result is mapped back to HTTP by the same rules API Gateway applies.
 *
 * Deliberate differences from API Gateway: a path that matches with another method answers
 * 405 with `Allow` (API Gateway says 404), errors (also an authorizer's 401) are problem+json
 * rather than `{"message": ...}` (also Node's own 431 for a request line or headers over 16 KiB),
 * the body limit defaults to 1 MiB (API Gateway: 10 MB), and paths no route has may be served by
 * `site` (the web console).
 *
 * @example
 * const api = await startHttpApi({ routes: ROUTES, invoke, accountId: '123456789012' });
 * await fetch(`${api.url}/edits/abc`);
 */
export async function startHttpApi(options: HttpApiOptions): Promise<HttpApi> {
  const routes = options.routes.map(compileRoute);
  const log = options.log ?? silentLog;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const apiId = randomBytes(5).toString('hex').slice(0, 10);

  const server = createServer((request, response) => {
    void serve(request, response).catch((error: unknown) => {
      log.error('request failed', { error: String(error) });
      if (!response.headersSent) sendProblem(response, 500, 'Internal Server Error');
      else response.destroy();
    });
  });

  // What Node cannot parse (a request line or headers over its 16 KiB, bad syntax) is refused as
  // problem+json too, like every other refusal of this server (Node's own answer has no body).
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const title = status === 431 ? 'Request Header Fields Too Large' : 'Bad Request';
    const body = JSON.stringify({ type: 'about:blank', title, status });
    socket.end(
      `HTTP/1.1 ${status} ${title}\r\ncontent-type: application/problem+json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });

  async function serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const requestId = requestIdOf();
    response.setHeader('apigw-requestid', requestId);
    const url = new URL(request.url ?? '/', 'http://localhost');
    const method = request.method ?? 'GET';
    const candidates = routes.flatMap((route) => {
      const match = matchRoute(route, url.pathname);
      return match ? [match] : [];
    });
    const match = candidates.find((candidate) => candidate.route.route.method === method);
    if (!match) {
      if (candidates.length === 0 && (await options.site?.(request, response))) return;
      request.resume();
      if (candidates.length === 0) return sendProblem(response, 404, 'Not Found');
      response.setHeader('allow', [...new Set(candidates.map((c) => c.route.route.method))].join(', '));
      return sendProblem(response, 405, 'Method Not Allowed');
    }

    let authorizer: object | undefined;
    try {
      authorizer = await options.authorize?.(request.headers);
    } catch (error) {
      request.resume();
      const refusal = toHttpResponse(problemResponse(error, url.pathname, log));
      return refusal ? send(response, refusal) : sendProblem(response, 500, 'Internal Server Error');
    }

    let body: Buffer;
    try {
      body = await readBody(request, maxBodyBytes);
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      response.setHeader('connection', 'close');
      return sendProblem(response, 413, 'Content Too Large');
    }

    const event = toEvent({
      request,
      url,
      body,
      match,
      requestId,
      apiId,
      accountId: options.accountId,
      authorizer,
    });
    let result: unknown;
    try {
      result = await options.invoke(match.route.route.function, event);
    } catch (error) {
      // As in API Gateway, the caller learns nothing about the failure; the log gets it all.
      log.error('handler failed', {
        routeKey: match.route.routeKey,
        requestId,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
      return sendProblem(response, 500, 'Internal Server Error');
    }
    const mapped = toHttpResponse(result);
    if (!mapped) {
      log.error('handler returned a malformed response', { routeKey: match.route.routeKey, requestId });
      return sendProblem(response, 500, 'Internal Server Error');
    }
    send(response, mapped);
  }

  await new Promise<void>((listening, failed) => {
    server.once('error', failed);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', failed);
      listening();
    });
  });
  const { port, address } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    port,
    close: () => closeServer(server),
  };
}

function send(response: ServerResponse, mapped: HttpResponse): void {
  response.statusCode = mapped.statusCode;
  for (const [name, value] of Object.entries(mapped.headers)) response.setHeader(name, value);
  if (mapped.cookies.length > 0) response.setHeader('set-cookie', mapped.cookies);
  response.setHeader('content-length', mapped.body.length);
  response.end(mapped.body);
}

function compileRoute(route: RouteDefinition): CompiledRoute {
  const parameterNames: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const parameter = /^\{([^}+]+)(\+?)\}$/.exec(segment);
      if (!parameter) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      parameterNames.push(parameter[1]!);
      return parameter[2] ? '(.+)' : '([^/]+)';
    })
    .join('/');
  return {
    route,
    routeKey: `${route.method} ${route.path}`,
    pattern: new RegExp(`^${source}$`),
    parameterNames,
  };
}

function matchRoute(route: CompiledRoute, path: string): RouteMatch | undefined {
  const found = route.pattern.exec(path);
  if (!found) return undefined;
  const pathParameters: Record<string, string> = {};
  route.parameterNames.forEach((name, index) => {
    pathParameters[name] = safeDecode(found[index + 1]!);
  });
  return { route, pathParameters };
}

function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > maxBytes) {
    request.resume();
    return Promise.reject(new BodyTooLargeError());
  }
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        request.removeAllListeners('data');
        request.resume();
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(chunk);
    });
    request.once('end', () => resolveBody(Buffer.concat(chunks)));
    request.once('error', reject);
  });
}

/**
 * API Gateway hands JSON, XML, JavaScript and text/* bodies over as text and base64-encodes
 * everything else, including form posts and bodies without a content type.
 */
function isTextContent(contentType: string | undefined): boolean {
  const mime = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (mime.startsWith('text/')) return true;
  const subtype = mime.split('/')[1] ?? '';
  return /^(json|xml|javascript)$|\+(json|xml)$/.test(subtype);
}

function toEvent(input: {
  request: IncomingMessage;
  url: URL;
  body: Buffer;
  match: RouteMatch;
  requestId: string;
  apiId: string;
  accountId: string;
  authorizer: object | undefined;
}): APIGatewayProxyEventV2 {
  const { request, url, body, match } = input;
  const headers: Record<string, string> = {};
  let cookies: string[] = [];
  for (const [name, value] of Object.entries(request.headersDistinct)) {
    if (!value) continue;
    if (name === 'cookie') {
      cookies = value.flatMap((line) => line.split(';').map((cookie) => cookie.trim())).filter(Boolean);
      continue;
    }
    headers[name] = value.join(',');
  }
  const sourceIp = request.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1';
  headers['x-forwarded-for'] = headers['x-forwarded-for']
    ? `${headers['x-forwarded-for']}, ${sourceIp}`
    : sourceIp;
  headers['x-forwarded-proto'] ??= 'http';
  headers['x-forwarded-port'] ??= String(request.socket.localPort ?? '');
  headers['x-amzn-trace-id'] ??=
    `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;

  const queryStringParameters: Record<string, string> = {};
  for (const key of new Set(url.searchParams.keys())) {
    queryStringParameters[key] = url.searchParams.getAll(key).join(',');
  }
  const rawQueryString = url.search.replace(/^\?/, '');
  const now = new Date();
  const isText = isTextContent(headers['content-type']);
  const host = headers.host ?? '127.0.0.1';

  return {
    version: '2.0',
    routeKey: match.route.routeKey,
    rawPath: url.pathname,
    rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(rawQueryString ? { queryStringParameters } : {}),
    ...(match.route.parameterNames.length > 0 ? { pathParameters: match.pathParameters } : {}),
    requestContext: {
      accountId: input.accountId,
      apiId: input.apiId,
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method: request.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: input.requestId,
      routeKey: match.route.routeKey,
      stage: '$default',
      time: formatRequestTime(now),
      timeEpoch: now.getTime(),
      ...(input.authorizer ? { authorizer: input.authorizer } : {}),
    } as APIGatewayProxyEventV2['requestContext'],
    ...(body.length > 0 ? { body: isText ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !isText,
  };
}

interface HttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  cookies: string[];
  body: Buffer;
}

/**
 * API Gateway's payload 2.0 response rules: an object with `statusCode` is used as is; any
 * other value is a 200 JSON response whose body is the value (a string verbatim, anything
 * else serialised). Returns undefined for a response API Gateway would reject (-> 500).
 */
export function toHttpResponse(result: unknown): HttpResponse | undefined {
  const structured =
    typeof result === 'object' && result !== null && 'statusCode' in result
      ? (result as APIGatewayProxyStructuredResultV2)
      : undefined;
  if (!structured) {
    const body = typeof result === 'string' ? result : (JSON.stringify(result) ?? '');
    return {
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      cookies: [],
      body: Buffer.from(body),
    };
  }
  const { statusCode, headers = {}, cookies = [], body, isBase64Encoded } = structured;
  if (!Number.isInteger(statusCode) || statusCode! < 100 || statusCode! > 599) return undefined;
  if (body !== undefined && body !== null && typeof body !== 'string') return undefined;
  const mappedHeaders: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) mappedHeaders[name.toLowerCase()] = String(value);
  return {
    statusCode: statusCode!,
    headers: mappedHeaders,
    cookies: Array.isArray(cookies) ? cookies.map(String) : [],
    body: Buffer.from(body ?? '', isBase64Encoded ? 'base64' : 'utf8'),
  };
}

function sendProblem(response: ServerResponse, status: number, title: string): void {
  const body = JSON.stringify({ type: 'about:blank', title, status });
  response.statusCode = status;
  response.setHeader('content-type', 'application/problem+json');
  response.setHeader('content-length', Buffer.byteLength(body));
  response.end(body);
}

/** API Gateway request ids look like `Ab1CdEfGhIjKlMn=`. */
function requestIdOf(): string {
  return `${randomUUID().replaceAll('-', '').slice(0, 15)}=`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `12/Mar/2020:19:03:58 +0000`, the CLF time API Gateway puts in `requestContext.time`. */
function formatRequestTime(date: Date): string {
  const two = (value: number) => String(value).padStart(2, '0');
  return (
    `${two(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:` +
    `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`
  );
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((closed) => {
    server.close(() => closed());
    server.closeAllConnections();
  });
}
