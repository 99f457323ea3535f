/**
 * A second, independent RunComfy-compatible server for tests, written from the reference
 * contract (/work/shared/reference/runcomfy-model-api.md §1–3) and sharing no code with
 * `simulator/` or `functions/`: the pipeline must work with any server that speaks the API, not
 * only with the one it was developed against. Wherever the reference allows several answers,
 * this server takes the one the project's simulator does not take by default:
 *
 * - a bad or missing token is HTTP 401 (not 400), errors are `{code, error, message}` bodies;
 * - submit answers `{request_id}` only (no URLs), ids are `req_…` (not UUIDs);
 * - `queue_position` is 1-based; a failed run's status is `failed` (not `completed`);
 * - a successful result says `completed` with `output.images` (an array, not `image`);
 * - a failure's `error` is the Serverless API's `[{errorCode, error, debugInfo}]`;
 * - an accepted cancel says `status: "completed"`, as the documentation's example does;
 * - an unknown model is HTTP 404.
 *
 * Outputs are small valid PNGs built with `node:zlib`, served without auth over http on
 * 127.0.0.1 at `<baseUrl>/files/outputs/<request id>/<n>.png`.
 *
 * @example
 * const upstream = await startIndependentRunComfy({ token: 'secret-token' });
 * // RUNCOMFY_BASE_URL=upstream.baseUrl RUNCOMFY_API_TOKEN=secret-token OUTPUT_HOST_ALLOWLIST=127.0.0.1
 * await upstream.close();
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { crc32, deflateSync } from 'node:zlib';
import { z } from 'zod';
import { closeServer, listenOnLoopback } from './loopback-server.ts';

export const INDEPENDENT_MODEL_ID = 'blackforestlabs/flux-2/flash/edit';

export interface IndependentRunComfyOptions {
  /** The one token accepted. @default a random one */
  token?: string;
  /** Time in the queue before a run may start. @default 300 */
  queueMs?: number;
  /** Time a run takes. @default 500 */
  runMs?: number;
  /** Runs at once; later submissions wait in a FIFO queue. @default 2 */
  workers?: number;
}

export interface ServedFile {
  bytes: Buffer;
  sha256: string;
}

export interface IndependentRunComfy {
  baseUrl: string;
  token: string;
  /** Every output file this server made, by its URL. */
  readonly files: ReadonlyMap<string, ServedFile>;
  /** Submissions accepted so far (each one would be charged). */
  readonly submissions: number;
  close(): Promise<void>;
}

/** §Q6: the pixel sizes of the `image_size` presets. */
const SIZES = {
  square_hd: [1024, 1024],
  square: [512, 512],
  portrait_4_3: [768, 1024],
  portrait_16_9: [576, 1024],
  landscape_4_3: [1024, 768],
  landscape_16_9: [1024, 576],
} as const;

/** §3.5: the model's input, as RunComfy documents it (unknown keys are ignored). */
const EditInput = z.object({
  prompt: z.string().min(1),
  image_urls: z
    .array(z.string().regex(/^(https:\/\/|data:image\/)/, 'must be an https:// URL'))
    .min(1)
    .max(4),
  guidance_scale: z.number().min(0).max(20).optional(),
  seed: z.number().int().optional(),
  image_size: z.enum(Object.keys(SIZES) as [keyof typeof SIZES]).optional(),
  output_format: z.enum(['jpeg', 'png', 'webp']).optional(),
});
type EditInput = z.infer<typeof EditInput>;

interface Run {
  id: string;
  input: EditInput;
  createdAt: number;
  startAt: number;
  finishAt: number;
  cancelledAt?: number;
  outputs?: string[];
}

type State = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** §3.6 error codes, with the HTTP status this server answers them with. */
const ERRORS = {
  auth: { http: 401, code: 400004, name: 'UserAccountError' },
  model: { http: 404, code: 400001, name: 'InvalidResourceIdentifier' },
  notFound: { http: 404, code: 404001, name: 'ResourceNotFound' },
  invalid: { http: 422, code: 422001, name: 'ValidationError' },
} as const;

export async function startIndependentRunComfy(
  options: IndependentRunComfyOptions = {},
): Promise<IndependentRunComfy> {
  const token = options.token ?? `tok_${randomBytes(12).toString('hex')}`;
  const queueMs = options.queueMs ?? 300;
  const runMs = options.runMs ?? 500;
  const workerFreeAt: number[] = Array.from({ length: options.workers ?? 2 }, () => 0);
  const runs = new Map<string, Run>();
  const files = new Map<string, ServedFile>();
  let baseUrl = '';

  const stateOf = (run: Run, now = Date.now()): State => {
    if (run.cancelledAt !== undefined) return 'cancelled';
    if (now < run.startAt) return 'queued';
    if (now < run.finishAt) return 'running';
    return run.input.prompt.includes('__FAIL__') ? 'failed' : 'succeeded';
  };

  /** Makes a finished run's files on first sight, deterministic from its id. */
  const outputsOf = (run: Run): string[] => {
    if (!run.outputs) {
      const [width, height] = SIZES[run.input.image_size ?? 'square_hd'];
      const digest = createHash('sha256').update(run.id).digest();
      const bytes = solidPng(width, height, [digest[0] ?? 0, digest[1] ?? 0, digest[2] ?? 0]);
      const url = `${baseUrl}/files/outputs/${run.id}/0.png`;
      files.set(url, { bytes, sha256: createHash('sha256').update(bytes).digest('hex') });
      run.outputs = [url];
    }
    return run.outputs;
  };

  const statusWord = (state: State) =>
    ({
      queued: 'in_queue',
      running: 'in_progress',
      succeeded: 'completed',
      failed: 'failed',
      cancelled: 'cancelled',
    })[state];

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', baseUrl);
    const path = url.pathname.replace(/\/+$/, '');

    if (path.startsWith('/files/')) {
      const file = request.method === 'GET' ? files.get(`${baseUrl}${path}`) : undefined;
      if (!file) return sendError(response, ERRORS.notFound, 'no such file');
      response.writeHead(200, { 'content-type': 'image/png', 'content-length': file.bytes.length });
      response.end(file.bytes);
      return;
    }

    if (!path.startsWith('/v1/')) return sendError(response, ERRORS.notFound, 'no such path');
    if (request.headers.authorization !== `Bearer ${token}`) {
      return sendError(response, ERRORS.auth, 'missing, invalid or revoked API token');
    }

    const submit = /^\/v1\/models\/(.+)$/.exec(path);
    if (submit) {
      if (request.method !== 'POST') return sendJson(response, 405, { code: 405, error: 'MethodNotAllowed' });
      if (submit[1] !== INDEPENDENT_MODEL_ID) return sendError(response, ERRORS.model, 'unknown model');
      const parsed = EditInput.safeParse(await readJson(request));
      if (!parsed.success) {
        return sendError(response, ERRORS.invalid, 'Input validation failed', {
          detail: parsed.error.issues.map((issue) => ({
            loc: ['body', ...issue.path.map(String)],
            msg: issue.message,
            type: issue.code,
          })),
        });
      }
      const now = Date.now();
      const worker = workerFreeAt.indexOf(Math.min(...workerFreeAt));
      const startAt = Math.max(now + queueMs, workerFreeAt[worker] ?? 0);
      const run: Run = {
        id: `req_${randomBytes(10).toString('hex')}`,
        input: parsed.data,
        createdAt: now,
        startAt,
        finishAt: startAt + runMs,
      };
      workerFreeAt[worker] = run.finishAt;
      runs.set(run.id, run);
      return sendJson(response, 200, { request_id: run.id });
    }

    const onRequest = /^\/v1\/requests\/([^/]+)\/(status|result|cancel)$/.exec(path);
    if (!onRequest) return sendError(response, ERRORS.notFound, 'no such path');
    const [, id = '', action] = onRequest;
    const run = runs.get(id);
    if (!run) return sendError(response, ERRORS.notFound, 'request not found or expired');
    const expectedMethod = action === 'cancel' ? 'POST' : 'GET';
    if (request.method !== expectedMethod)
      return sendJson(response, 405, { code: 405, error: 'MethodNotAllowed' });
    const now = Date.now();
    const state = stateOf(run, now);

    if (action === 'status') {
      const ahead = [...runs.values()].filter(
        (other) => other !== run && stateOf(other, now) === 'queued' && other.startAt < run.startAt,
      ).length;
      return sendJson(response, 200, {
        request_id: id,
        status: statusWord(state),
        ...(state === 'queued' ? { queue_position: ahead + 1 } : {}),
        status_url: `${baseUrl}/v1/requests/${id}/status`,
        result_url: `${baseUrl}/v1/requests/${id}/result`,
      });
    }

    if (action === 'cancel') {
      if (state === 'queued' || state === 'cancelled') {
        run.cancelledAt ??= now;
        return sendJson(response, 202, { request_id: id, status: 'completed', outcome: 'cancelled' });
      }
      return sendJson(response, 202, {
        request_id: id,
        status: statusWord(state),
        outcome: 'not_cancellable',
      });
    }

    const times = {
      created_at: timestamp(run.createdAt),
      ...(state === 'queued' || state === 'running'
        ? {}
        : { finished_at: timestamp(run.cancelledAt ?? run.finishAt) }),
    };
    const cost =
      url.searchParams.get('include_cost') === 'true' ? { cost: state === 'succeeded' ? 0.01 : 0 } : {};
    if (state === 'succeeded') {
      return sendJson(response, 200, {
        request_id: id,
        status: 'completed',
        output: { images: outputsOf(run) },
        ...times,
        ...cost,
      });
    }
    if (state === 'failed') {
      return sendJson(response, 200, {
        request_id: id,
        status: 'failed',
        error: [
          { errorCode: 500001, error: 'Generation failed', debugInfo: 'the prompt asked for a failure' },
        ],
        ...times,
        ...cost,
      });
    }
    const status = state === 'cancelled' ? 'cancelled' : statusWord(state);
    return sendJson(response, 200, { request_id: id, status, ...times, ...cost });
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent)
        sendJson(response, 500, { code: 500001, error: 'InternalError', message: String(error) });
      else response.destroy();
    });
  });
  baseUrl = await listenOnLoopback(server);

  return {
    baseUrl,
    token,
    files,
    get submissions() {
      return runs.size;
    },
    close: () => closeServer(server),
  };
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

function sendError(
  response: ServerResponse,
  error: { http: number; code: number; name: string },
  message: string,
  extra: Record<string, unknown> = {},
): void {
  sendJson(response, error.http, { code: error.code, error: error.name, message, ...extra });
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return undefined;
  }
}

/** ISO-8601 with microseconds and an offset, as the Serverless API writes them (§1.3). */
function timestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000+00:00');
}

/** A valid RGB PNG of one colour: signature, IHDR, one zlib IDAT of unfiltered rows, IEND. */
export function solidPng(width: number, height: number, rgb: readonly [number, number, number]): Buffer {
  const row = Buffer.alloc(1 + width * 3); // filter byte 0 (None), then the pixels
  for (let x = 0; x < width; x++) row.set(rgb, 1 + x * 3);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits per channel, truecolour, deflate, adaptive filtering, no interlace
  const chunk = (type: string, data: Buffer) => {
    const typeAndData = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const checksum = Buffer.alloc(4);
    checksum.writeUInt32BE(crc32(typeAndData));
    return Buffer.concat([length, typeAndData, checksum]);
  };
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(Array.from({ length: height }, () => row)))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
