import { AsyncLocalStorage } from 'node:async_hooks';
import { once } from 'node:events';
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SQSClient } from '@aws-sdk/client-sqs';
import { FUNCTIONS, type FunctionName } from '../contract/index.ts';
import { type HandlerOverrides, loadHandlers } from './handlers.ts';
import type { LambdaHandler } from './lambda-context.ts';

/*
 * Counts the AWS requests the pipeline makes, by service, operation and caller: a tiny
 * loopback HTTP proxy in front of moto (the benchmarks' request counts; the least-privilege
 * test's record of what each function touched, through `onRequest`). The service comes from the SigV4 credential scope of
 * each request, the operation from `X-Amz-Target`, a query-protocol `Action=` or the S3
 * method/path; the caller (which function, or the local runtime itself) from a header that an
 * instrumented SDK HTTP handler adds inside `callerContext.run(name, ...)` and the proxy removes.
 */

export const CALLER_HEADER = 'x-local-caller';
/** Requests outside any function invocation: the local runtime's SQS driver, setup, a benchmark or test. */
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

/**
 * Handlers for `startLocalPipeline({ handlers })`: the real ones, each invocation run as its
 * function's caller. They are loaded at the first invocation, when the runtime has set the
 * functions' environment (as it would load them itself).
 */
export function attributedHandlers(): HandlerOverrides {
  instrumentSdkCallers();
  let real: Promise<Record<FunctionName, LambdaHandler>> | undefined;
  const names = Object.keys(FUNCTIONS) as FunctionName[];
  return Object.fromEntries(
    names.map((name) => [
      name,
      (async (event: unknown, context: unknown) => {
        real ??= loadHandlers();
        const handler = (await real)[name] as (event: unknown, context: unknown) => unknown;
        return callerContext.run(name, () => handler(event, context));
      }) as LambdaHandler,
    ]),
  );
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

/** One AWS request, with what checking it against an IAM grant needs to know of its target. */
export interface AwsRequest {
  caller: string;
  service: string;
  operation: string;
  /** DynamoDB: the table, and the index of a Query or Scan. */
  table?: string;
  index?: string;
  /**
   * DynamoDB transactions and batch writes, which IAM authorises item by item: the action of
   * each item (`dynamodb:PutItem`, `dynamodb:ConditionCheckItem`, ...).
   */
  itemActions?: string[];
  /** SQS: the queue's URL. */
  queueUrl?: string;
  /** S3: the bucket and the keys acted on (DeleteObjects: each one; ListObjectsV2: the prefix listed). */
  bucket?: string;
  keys?: string[];
  /** S3 CopyObject: the object read, as `bucket/key`. */
  copySource?: string;
  /** SNS: the topic ARN; EventBridge: each entry's bus; Secrets Manager: the secret id. */
  targets?: string[];
}

export interface AwsRequestCounterOptions {
  /** Called with every request before it is forwarded (the benchmarks need only the tallies). */
  onRequest?: (request: AwsRequest) => void;
}

export interface AwsRequestCounter {
  /** `http://127.0.0.1:<port>`: set this as `AWS_ENDPOINT_URL`. */
  endpoint: string;
  tallies(): RequestTally[];
  reset(): void;
  close(): Promise<void>;
}

export async function startAwsRequestCounter(
  target: string,
  options: AwsRequestCounterOptions = {},
): Promise<AwsRequestCounter> {
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
    // S3 bodies may be large: streamed (but a DeleteObjects' small list of keys is read). Others are
    // small and read whole for a query `Action=`.
    const streamed =
      service === 's3' && !(incoming.method === 'POST' && /[?&]delete(=|&|$)/.test(incoming.url ?? ''));
    const forward = (body?: Buffer) => {
      const operation = operationOf(incoming, service, body);
      const request = { caller, service, operation, ...detailsOf(service, operation, body) };
      options.onRequest?.({ caller, service, operation, ...targetsOf(incoming, service, operation, body) });
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

/** What a request acts on, as an IAM statement's resources (and conditions) would name it. */
function targetsOf(
  incoming: IncomingMessage,
  service: string,
  operation: string,
  body: Buffer | undefined,
): Omit<AwsRequest, 'caller' | 'service' | 'operation'> {
  const text = body?.toString() ?? '';
  if (service === 's3') return s3Targets(incoming, operation, text);
  const json = parseJson(text);
  const form = new URLSearchParams(json ? '' : text);
  const field = (name: string) => {
    const value = json?.[name] ?? form.get(name) ?? undefined;
    return typeof value === 'string' ? value : undefined;
  };
  switch (service) {
    case 'dynamodb':
      return dynamoTargets(operation, json ?? {});
    case 'sqs': {
      const queueUrl = field('QueueUrl');
      return queueUrl ? { queueUrl } : {};
    }
    case 'sns': {
      const topic = field('TopicArn') ?? field('TargetArn');
      return topic ? { targets: [topic] } : {};
    }
    case 'events': {
      const entries = (json?.Entries ?? []) as { EventBusName?: string }[];
      return { targets: entries.map((entry) => entry.EventBusName ?? 'default') };
    }
    case 'secretsmanager': {
      const secret = field('SecretId');
      return secret ? { targets: [secret] } : {};
    }
    default:
      return {};
  }
}

function parseJson(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

const TRANSACT_ITEM_ACTIONS: Record<string, string> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
  Get: 'dynamodb:GetItem',
};

function dynamoTargets(
  operation: string,
  body: Record<string, unknown>,
): Omit<AwsRequest, 'caller' | 'service' | 'operation'> {
  if (operation === 'TransactWriteItems' || operation === 'TransactGetItems') {
    const items = (body.TransactItems ?? []) as Record<string, { TableName?: string }>[];
    return {
      table: items.map((item) => Object.values(item)[0]?.TableName).find(Boolean),
      itemActions: items.map((item) => TRANSACT_ITEM_ACTIONS[Object.keys(item)[0] ?? ''] ?? 'unknown'),
    };
  }
  if (operation === 'BatchWriteItem' || operation === 'BatchGetItem') {
    const tables = (body.RequestItems ?? {}) as Record<string, unknown>;
    const writes = Object.values(tables).flatMap((requests) =>
      Array.isArray(requests)
        ? requests.map((request: Record<string, unknown>) =>
            'PutRequest' in request ? 'dynamodb:PutItem' : 'dynamodb:DeleteItem',
          )
        : [],
    );
    return {
      table: Object.keys(tables)[0],
      ...(operation === 'BatchWriteItem' ? { itemActions: writes } : {}),
    };
  }
  return {
    ...(typeof body.TableName === 'string' ? { table: body.TableName } : {}),
    ...(typeof body.IndexName === 'string' ? { index: body.IndexName } : {}),
  };
}

/** Path-style addressing (`/<bucket>/<key>`), as the functions' S3 client uses on a local endpoint. */
function s3Targets(
  incoming: IncomingMessage,
  operation: string,
  body: string,
): Omit<AwsRequest, 'caller' | 'service' | 'operation'> {
  const url = new URL(incoming.url ?? '/', 'http://s3.local');
  const [bucket = '', ...rest] = url.pathname.slice(1).split('/');
  const key = decodeURIComponent(rest.join('/'));
  if (operation === 'ListObjectsV2') return { bucket, keys: [url.searchParams.get('prefix') ?? ''] };
  if (operation === 'DeleteObjects') {
    const keys = [...body.matchAll(/<Key>([^<]*)<\/Key>/g)].map((match) => unescapeXml(match[1] ?? ''));
    return { bucket, keys };
  }
  const source = incoming.headers['x-amz-copy-source'];
  return {
    bucket,
    keys: key ? [key] : [],
    ...(typeof source === 'string'
      ? { copySource: decodeURIComponent(source.replace(/^\//, '').split('?')[0] ?? '') }
      : {}),
  };
}

function unescapeXml(text: string): string {
  return text
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&apos;', "'")
    .replaceAll('&amp;', '&');
}
