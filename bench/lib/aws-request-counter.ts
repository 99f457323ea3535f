import { AsyncLocalStorage } from 'node:async_hooks';
import { once } from 'node:events';
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SQSClient } from '@aws-sdk/client-sqs';

/*
 * Counts the AWS requests the pipeline makes, by service, operation and caller: a tiny
 * loopback HTTP proxy in front of moto. The service comes from the SigV4 credential scope of
 * each request, the operation from `X-Amz-Target`, a query-protocol `Action=` or the S3
 * method/path; the caller (which function, or the local runtime itself) from a header that an
 * instrumented SDK HTTP handler adds inside `callerContext.run(name, ...)` and the proxy removes.
 */

export const CALLER_HEADER = 'x-bench-caller';
/** Requests outside any function invocation: the local runtime's SQS driver, setup, the benchmark. */
export const RUNTIME_CALLER = 'runtime';

/** Run code as `caller` so its SDK requests are attributed to it. */
export const callerContext = new AsyncLocalStorage<string>();

let instrumented = false;

/**
 * Makes every SDK client in this process tag its requests with the current caller (idempotent).
 * All v3 clients share one Node HTTP handler class; its prototype is reached through a client,
 * so that the benchmark needs no direct dependency on the SDK's internals.
 */
export function instrumentSdkCallers(): void {
  if (instrumented) return;
  instrumented = true;
  const probe = new SQSClient({ region: 'us-east-1' });
  const prototype = Object.getPrototypeOf(probe.config.requestHandler) as {
    handle(request: { headers: Record<string, string> }, options?: unknown): Promise<unknown>;
  };
  probe.destroy();
  const original = prototype.handle;
  prototype.handle = function handle(this: unknown, request, options) {
    const caller = callerContext.getStore();
    if (caller) request.headers[CALLER_HEADER] = caller;
    return original.call(this, request, options);
  };
}

export interface RequestTally {
  caller: string;
  service: string;
  operation: string;
  /** SQS: the queue's name (last segment of its URL). */
  resource?: string;
  count: number;
  /** ReceiveMessage only: how many of those calls returned no message. */
  empty?: number;
  /** TransactWriteItems / TransactGetItems: items in all those calls together. */
  items?: number;
}

export interface AwsRequestCounter {
  /** `http://127.0.0.1:<port>`: set this as `AWS_ENDPOINT_URL`. */
  endpoint: string;
  tallies(): RequestTally[];
  reset(): void;
  close(): Promise<void>;
}

export async function startAwsRequestCounter(target: string): Promise<AwsRequestCounter> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const counts = new Map<string, RequestTally>();
  const count = (request: Omit<RequestTally, 'count' | 'empty'>, empty: boolean) => {
    const key = `${request.caller}|${request.service}|${request.operation}|${request.resource ?? ''}`;
    const tally = counts.get(key) ?? { ...request, items: undefined, count: 0 };
    tally.count += 1;
    if (request.operation === 'ReceiveMessage') tally.empty = (tally.empty ?? 0) + (empty ? 1 : 0);
    if (request.items !== undefined) tally.items = (tally.items ?? 0) + request.items;
    counts.set(key, tally);
  };

  const server: Server = createServer((incoming, outgoing) => {
    const caller = String(incoming.headers[CALLER_HEADER] ?? RUNTIME_CALLER);
    const service = serviceOf(incoming);
    const headers = { ...incoming.headers };
    delete headers[CALLER_HEADER];
    // S3 bodies may be large: streamed. Others are small and read whole for a query `Action=`.
    const streamed = service === 's3';
    const forward = (body?: Buffer) => {
      const operation = operationOf(incoming, service, body);
      const request = { caller, service, operation, ...detailsOf(service, operation, body) };
      const proxied = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: incoming.method,
          path: incoming.url,
          headers,
          agent,
        },
        (answer) => {
          if (operation !== 'ReceiveMessage') {
            count(request, false);
            outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(outgoing);
            return;
          }
          const chunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => chunks.push(chunk));
          answer.on('end', () => {
            const text = Buffer.concat(chunks);
            count(request, !/"Messages"\s*:\s*\[\s*\{|<Message>/.test(text.toString()));
            outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
            outgoing.end(text);
          });
        },
      );
      proxied.on('error', (error) => {
        outgoing.destroy(error);
      });
      if (streamed) incoming.pipe(proxied);
      else proxied.end(body);
    };
    if (streamed) {
      forward();
      return;
    }
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => forward(Buffer.concat(chunks)));
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    tallies: () => [...counts.values()].map((tally) => ({ ...tally })),
    reset: () => counts.clear(),
    close: async () => {
      server.closeAllConnections();
      server.close();
      agent.destroy();
      await once(server, 'close').catch(() => {});
    },
  };
}

/** The signing name in the SigV4 credential scope: `.../<date>/<region>/<service>/aws4_request`. */
function serviceOf(incoming: IncomingMessage): string {
  const authorization = String(incoming.headers.authorization ?? '');
  const scope = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(authorization);
  if (scope?.[1]) return scope[1];
  const target = String(incoming.headers['x-amz-target'] ?? '');
  if (target.startsWith('AmazonSQS')) return 'sqs';
  if (target.startsWith('DynamoDB')) return 'dynamodb';
  if (target.startsWith('AWSEvents')) return 'events';
  return 'unknown';
}

function operationOf(incoming: IncomingMessage, service: string, body: Buffer | undefined): string {
  const target = incoming.headers['x-amz-target'];
  if (typeof target === 'string' && target.includes('.')) return target.slice(target.lastIndexOf('.') + 1);
  if (service === 's3') return s3Operation(incoming);
  const action =
    /(?:^|&)Action=([A-Za-z]+)/.exec(body?.toString() ?? '') ??
    /[?&]Action=([A-Za-z]+)/.exec(incoming.url ?? '');
  return action?.[1] ?? `${incoming.method} ${incoming.url?.split('?')[0]}`;
}

/** The queue of an SQS call, the item count of a DynamoDB transaction. */
function detailsOf(
  service: string,
  operation: string,
  body: Buffer | undefined,
): { resource?: string; items?: number } {
  if (!body || body.length === 0) return {};
  const text = body.toString();
  if (service === 'sqs') {
    const json = /"QueueUrl"\s*:\s*"([^"]+)"/.exec(text)?.[1];
    const form = /(?:^|&)QueueUrl=([^&]+)/.exec(text)?.[1];
    const url = json ?? (form ? decodeURIComponent(form) : undefined);
    return url ? { resource: url.slice(url.lastIndexOf('/') + 1) } : {};
  }
  if (service === 'dynamodb' && operation.startsWith('Transact')) {
    try {
      const items = (JSON.parse(text) as { TransactItems?: unknown[] }).TransactItems;
      return { items: items?.length ?? 0 };
    } catch {
      return {};
    }
  }
  return {};
}

function s3Operation(incoming: IncomingMessage): string {
  const url = new URL(incoming.url ?? '/', 'http://s3.local');
  const query = url.searchParams;
  const method = incoming.method ?? 'GET';
  if (method === 'PUT' && query.has('partNumber')) return 'UploadPart';
  if (method === 'PUT' && incoming.headers['x-amz-copy-source']) return 'CopyObject';
  if (method === 'PUT')
    return url.pathname.split('/').filter(Boolean).length <= 1 ? 'CreateBucket' : 'PutObject';
  if (method === 'POST' && query.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'POST' && query.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'POST' && query.has('delete')) return 'DeleteObjects';
  if (method === 'DELETE' && query.has('uploadId')) return 'AbortMultipartUpload';
  if (method === 'DELETE') return 'DeleteObject';
  if (method === 'HEAD') return 'HeadObject';
  if (method === 'GET' && query.has('list-type')) return 'ListObjectsV2';
  return method === 'GET' ? 'GetObject' : `${method} object`;
}
