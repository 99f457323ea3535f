import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe } from 'node:diagnostics_channel';
import {
  type ClientRequest,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fault-injecting proxy between the functions and the AWS emulator, for soaks: every request is
 * forwarded to the emulator, and a fraction of the side-effecting ones (writes to DynamoDB, S3,
 * SQS, SNS, EventBridge) have their success answer replaced by a non-retryable error *after* the
 * emulator carried them out. The calling handler then fails with the side effect done — what a
 * Lambda crashing right after a write looks like — and its message is redelivered. Reads are
 * never touched, and neither are the calls of an invocation not run under {@link armCrashes}
 * (an API call crashing would be an API 5xx, which is not the fault being played). Local runtime
 * only: nothing in the functions knows it exists.
 */
export interface AwsChaosOptions {
  /** The emulator to forward to, e.g. moto's `http://127.0.0.1:5000`. */
  target: string;
  /** Fraction (0–1) of side-effecting calls answered with a crash after they happened. */
  crashAfterWrite: number;
  /** A [0, 1) source; seeded in soaks so that a run can be replayed. @default Math.random */
  random?: () => number;
}

export interface AwsChaosProxy {
  readonly endpoint: string;
  /** Crashes injected so far, by operation (`DynamoDB.UpdateItem`, `S3.PutObject`, …). */
  readonly injected: Record<string, number>;
  close(): Promise<void>;
}

const ARMED_HEADER = 'x-local-chaos';
const armed = new AsyncLocalStorage<boolean>();
let marking = false;

/**
 * Runs `work` (a handler invocation) with its AWS calls eligible for crashes: every HTTP request it
 * makes carries a marker header, set when node creates the request (a diagnostics channel, so
 * the SDK is not touched); the proxy crashes marked requests only, and strips the marker.
 */
export function armCrashes<T>(work: () => Promise<T>): Promise<T> {
  if (!marking) {
    marking = true;
    subscribe('http.client.request.created', (message: unknown) => {
      if (armed.getStore()) (message as { request: ClientRequest }).request.setHeader(ARMED_HEADER, 'armed');
    });
  }
  return armed.run(true, work);
}

/** The operation a request names: JSON protocols say it in `X-Amz-Target`, query protocols in the body, S3 in the path. */
function operationOf(request: IncomingMessage, body: Buffer): string {
  const target = request.headers['x-amz-target'];
  if (typeof target === 'string') {
    const [service = '', action = ''] = target.split('.');
    if (service.startsWith('DynamoDB')) return `DynamoDB.${action}`;
    if (service.startsWith('AmazonSQS')) return `SQS.${action}`;
    if (service.startsWith('AWSEvents')) return `EventBridge.${action}`;
    return `${service}.${action}`;
  }
  const action = /(?:^|&)Action=([A-Za-z]+)/.exec(body.toString('utf8', 0, Math.min(body.length, 2048)))?.[1];
  if (action) return `${action === 'Publish' || action.startsWith('Subscribe') ? 'SNS' : 'SQS'}.${action}`;
  const method = request.method ?? 'GET';
  const url = request.url ?? '/';
  if (method === 'PUT' && url.includes('partNumber=')) return 'S3.UploadPart';
  if (method === 'PUT') return 'S3.PutObject';
  if (method === 'POST' && url.includes('uploadId=')) return 'S3.CompleteMultipartUpload';
  if (method === 'POST' && url.includes('delete')) return 'S3.DeleteObjects';
  return `S3.${method}`;
}

const SIDE_EFFECTS = new Set([
  'DynamoDB.UpdateItem',
  'DynamoDB.PutItem',
  'DynamoDB.TransactWriteItems',
  'S3.PutObject',
  'S3.CompleteMultipartUpload',
  'SQS.SendMessage',
  'SNS.Publish',
  'EventBridge.PutEvents',
]);

/** An error in the protocol the caller speaks, with a code no SDK retries. */
function crashAnswer(operation: string): { status: number; headers: Record<string, string>; body: string } {
  const message = 'chaos: the handler crashed right after this call took effect';
  if (operation.startsWith('S3.')) {
    return {
      status: 400,
      headers: { 'content-type': 'application/xml' },
      body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ChaosCrash</Code><Message>${message}</Message></Error>`,
    };
  }
  if (operation.startsWith('SNS.')) {
    return {
      status: 400,
      headers: { 'content-type': 'text/xml' },
      body: `<ErrorResponse><Error><Type>Sender</Type><Code>ChaosCrash</Code><Message>${message}</Message></Error></ErrorResponse>`,
    };
  }
  return {
    status: 400,
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-query-error': 'ChaosCrash;Sender' },
    body: JSON.stringify({ __type: 'ChaosCrash', message }),
  };
}

export async function startAwsChaosProxy(options: AwsChaosOptions): Promise<AwsChaosProxy> {
  const target = new URL(options.target);
  const random = options.random ?? Math.random;
  const injected: Record<string, number> = {};

  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const operation = operationOf(request, body);
      const { [ARMED_HEADER]: marker, ...headers } = request.headers;
      const upstream = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: request.method,
          path: request.url,
          headers: { ...headers, host: target.host },
        },
        (answer) => {
          const crash =
            marker === 'armed' &&
            SIDE_EFFECTS.has(operation) &&
            (answer.statusCode ?? 500) < 300 &&
            options.crashAfterWrite > 0 &&
            random() < options.crashAfterWrite;
          if (!crash) {
            response.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(response);
            return;
          }
          answer.resume();
          answer.on('end', () => {
            injected[operation] = (injected[operation] ?? 0) + 1;
            const error = crashAnswer(operation);
            response.writeHead(error.status, {
              ...error.headers,
              'content-length': Buffer.byteLength(error.body),
            });
            response.end(error.body);
          });
        },
      );
      upstream.on('error', () => response.destroy());
      upstream.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    injected,
    close: () =>
      new Promise<void>((closed) => {
        server.closeAllConnections();
        server.close(() => closed());
      }),
  };
}
