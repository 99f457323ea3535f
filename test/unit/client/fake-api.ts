import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JobView } from '../../../client/types.ts';

/** A PNG signature and some bytes: enough for the client, which never decodes outputs. */
export const OUTPUT_BYTES = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.from('fake image data'),
]);

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A job's successive states: each GET moves one step on and then stays on the last. */
export type JobScript = Partial<JobView>[];

export interface FakeApi {
  url: string;
  requests: RecordedRequest[];
  /** Bytes PUT to the fake storage, by s3 URI. */
  uploads: Map<string, { contentType: string; body: Buffer }>;
  /** The script of the next job submitted (then the default again). */
  nextScript: JobScript | undefined;
  /** Answers to send before the real one, e.g. a 503 (one per request). */
  failNext: { status: number; body?: string; headers?: Record<string, string> }[];
  /** Output bytes served (change to make a download arrive damaged). */
  outputBytes: Buffer;
  close(): Promise<void>;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/**
 * An in-memory stand-in for the pipeline's HTTP API and its storage, speaking the same wire
 * format (JobView, problem+json, upload tickets, presigned-style URLs), for client unit tests.
 */
export async function startFakeApi(): Promise<FakeApi> {
  const jobs = new Map<string, { view: JobView; script: JobScript; step: number }>();
  const tickets = new Map<string, { s3Uri: string; contentType: string }>();
  const fake: FakeApi = {
    url: '',
    requests: [],
    uploads: new Map(),
    nextScript: undefined,
    failNext: [],
    outputBytes: OUTPUT_BYTES,
    close: async () => {},
  };

  const successScript = (id: string): JobScript => [
    { status: 'queued', phase: 'queued', queue_position: 2 },
    { status: 'queued', phase: 'queued', queue_position: 1 },
    { status: 'running', phase: 'running', queue_position: undefined },
    { status: 'running', phase: 'copying' },
    {
      status: 'succeeded',
      phase: undefined,
      outputs: [
        {
          index: 0,
          s3_uri: `s3://outputs/${id}/0.png`,
          bucket: 'outputs',
          key: `${id}/0.png`,
          content_type: 'image/png',
          size_bytes: fake.outputBytes.length,
          sha256: sha256(fake.outputBytes),
        },
      ],
    },
  ];

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => serve(request, Buffer.concat(chunks), response));
  });

  function serve(request: IncomingMessage, body: Buffer, response: ServerResponse) {
    const url = new URL(request.url ?? '/', fake.url);
    const method = request.method ?? 'GET';
    fake.requests.push({ method, path: url.pathname, headers: request.headers, body });
    const failure = url.pathname.startsWith('/files/') ? undefined : fake.failNext.shift();
    if (failure) {
      response.writeHead(failure.status, { 'content-type': 'application/problem+json', ...failure.headers });
      return response.end(failure.body ?? JSON.stringify({ status: failure.status, code: 'UNAVAILABLE' }));
    }

    if (method === 'POST' && url.pathname === '/uploads') {
      const { content_type, size_bytes, filename } = JSON.parse(body.toString());
      const id = randomUUID();
      const s3Uri = `s3://uploads-bucket/uploads/${id}/${filename ?? 'image'}`;
      tickets.set(id, { s3Uri, contentType: content_type });
      return json(response, 201, {
        upload_url: `${fake.url}/storage/${id}?X-Amz-Signature=fake`,
        method: 'PUT',
        headers: { 'content-type': content_type, 'content-length': String(size_bytes) },
        s3_uri: s3Uri,
        expires_at: new Date(Date.now() + 900_000).toISOString(),
      });
    }
    if (method === 'PUT' && url.pathname.startsWith('/storage/')) {
      const target = tickets.get(url.pathname.split('/')[2] ?? '');
      if (!target || request.headers['content-type'] !== target.contentType) {
        response.writeHead(403, { 'content-type': 'application/xml' });
        return response.end(
          '<Error><Code>SignatureDoesNotMatch</Code><Message>headers differ</Message></Error>',
        );
      }
      fake.uploads.set(target.s3Uri, { contentType: target.contentType, body });
      response.writeHead(200, { etag: '"x"' });
      return response.end();
    }
    if (method === 'POST' && url.pathname === '/edits') {
      const input = JSON.parse(body.toString());
      if (typeof input.guidance_scale === 'number' && input.guidance_scale > 20) {
        return problem(response, 400, 'INVALID_REQUEST', 'the edit request is invalid', [
          { path: 'guidance_scale', message: 'must be ≤ 20' },
        ]);
      }
      const id = `job${jobs.size + 1}`;
      const now = new Date().toISOString();
      const view: JobView = {
        id,
        status: 'queued',
        phase: 'submitting',
        input: { guidance_scale: 2.5, image_size: 'square_hd', output_format: 'png', ...input },
        created_at: now,
        updated_at: now,
        deadline_at: now,
      };
      const failing = String(input.prompt).includes('__FAIL__');
      const script =
        fake.nextScript ??
        (failing
          ? [
              { status: 'running', phase: 'running' },
              {
                status: 'failed',
                phase: undefined,
                error: { code: 'UPSTREAM_FAILED', message: 'the model failed' },
              },
            ]
          : successScript(id));
      fake.nextScript = undefined;
      jobs.set(id, { view, script, step: 0 });
      response.setHeader('location', `/edits/${id}`);
      return json(response, 202, view);
    }
    const jobPath = /^\/edits\/([^/]+)(\/cancel)?$/.exec(url.pathname);
    const job = jobPath ? jobs.get(decodeURIComponent(jobPath[1]!)) : undefined;
    if (jobPath && !job) return problem(response, 404, 'NOT_FOUND', `no job with id ${jobPath[1]}`);
    if (job && method === 'GET' && !jobPath?.[2]) {
      const state = job.script[Math.min(job.step, job.script.length - 1)];
      job.step += 1;
      job.view = { ...job.view, ...state };
      const outputs = job.view.outputs?.map((output) => ({
        ...output,
        url: `${fake.url}/files/${job.view.id}-${output.index}?X-Amz-Signature=fake`,
      }));
      return json(response, 200, { ...job.view, ...(outputs ? { outputs } : {}) });
    }
    if (job && method === 'POST' && jobPath?.[2]) {
      if (job.view.status !== 'queued' && job.view.status !== 'cancelled') {
        return problem(
          response,
          409,
          'not_cancellable',
          'the job has started and can no longer be cancelled',
        );
      }
      job.view = { ...job.view, status: 'cancelled', phase: undefined };
      job.script = [job.view];
      return json(response, 200, job.view);
    }
    if (method === 'GET' && url.pathname.startsWith('/files/')) {
      response.writeHead(200, { 'content-type': 'image/png', 'content-length': fake.outputBytes.length });
      return response.end(fake.outputBytes);
    }
    return problem(response, 404, 'NOT_FOUND', 'no such route');
  }

  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () =>
    new Promise((closed) => {
      server.close(() => closed());
      server.closeAllConnections();
    });
  return fake;
}

function json(response: ServerResponse, status: number, body: unknown) {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

function problem(
  response: ServerResponse,
  status: number,
  code: string,
  detail: string,
  errors?: { path: string; message: string }[],
) {
  response.writeHead(status, { 'content-type': 'application/problem+json' });
  response.end(JSON.stringify({ type: 'about:blank', title: 'Error', status, code, detail, errors }));
}
