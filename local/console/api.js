/*
 * The console's only way to the pipeline: the public HTTP API of this origin (the same routes
 * and bodies the CLI uses), plus the presigned storage URLs that API hands out.
 */

/**
 * @typedef {'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'expired'} JobStatus
 * @typedef {{ index: number, content_type: string, size_bytes: number, s3_uri: string, url?: string }} OutputView
 * @typedef {{
 *   id: string,
 *   status: JobStatus,
 *   phase?: string,
 *   input: { prompt: string, image_urls: string[], image_size?: string, output_format?: string, seed?: number },
 *   caller_reference?: string,
 *   batch_id?: string,
 *   upstream_request_id?: string,
 *   cancel_requested_at?: string,
 *   queue_position?: number,
 *   created_at: string,
 *   started_at?: string,
 *   upstream_finished_at?: string,
 *   finished_at?: string,
 *   deadline_at: string,
 *   cost?: number,
 *   outputs?: OutputView[],
 *   error?: { code: string, message: string },
 *   last_error?: { code: string, message: string, attempt: number, next_try_at?: string },
 * }} JobView
 * @typedef {{ items: JobView[], next_token?: string }} JobPage
 * @typedef {{ upload_url: string, method: string, headers: Record<string, string>, s3_uri: string }} UploadTicket
 * @typedef {{
 *   prompt: string,
 *   image_urls: string[],
 *   image_size?: string,
 *   output_format?: string,
 *   seed?: number,
 *   guidance_scale?: number,
 *   caller_reference?: string,
 * }} EditRequest
 * @typedef {{
 *   status?: string[],
 *   caller_reference?: string,
 *   batch_id?: string,
 *   created_after?: string,
 *   created_before?: string,
 * }} JobFilters
 */

export const TERMINAL_STATUSES = ['succeeded', 'failed', 'cancelled', 'expired'];

/** An error answer of the API (RFC 9457 problem) or of storage, or no answer at all (status 0). */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {{ path: string, message: string }[]} [fields]
   */
  constructor(status, code, message, fields = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields;
  }

  /** Worth another try of a request that is safe to repeat. */
  get transient() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }

  /** The API wants credentials (JWT mode) that it did not get or did not accept. */
  get unauthorised() {
    return this.status === 401 || this.status === 403;
  }
}

const TOKEN_KEY = 'flux-edit-console.token';

/** The bearer token for an API in JWT mode: kept for this tab only, sent to this API only. */
export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) ?? '',
  /** @param {string} value */
  set: (value) => {
    const trimmed = value.trim().replace(/^Bearer\s+/i, '');
    if (trimmed) sessionStorage.setItem(TOKEN_KEY, trimmed);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

/**
 * @param {string} method
 * @param {string} path
 * @param {{ body?: unknown, headers?: Record<string, string>, signal?: AbortSignal }} [options]
 * @returns {Promise<any>}
 */
async function call(method, path, options = {}) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json, application/problem+json', ...options.headers };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const bearer = token.get();
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: options.body === undefined ? null : JSON.stringify(options.body),
      signal: options.signal ?? null,
      // Same origin only; nothing else is ever called with the token.
      mode: 'same-origin',
      cache: 'no-store',
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new ApiError(0, 'NETWORK_ERROR', `the API did not answer (${String(error)})`);
  }
  if (!response.ok) throw await problemOf(response);
  return response.status === 204 ? undefined : response.json();
}

/** @param {Response} response */
async function problemOf(response) {
  const text = await response.text().catch(() => '');
  /** @type {{ code?: unknown, detail?: unknown, title?: unknown, message?: unknown, errors?: unknown }} */
  let problem = {};
  try {
    problem = JSON.parse(text);
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  const code = typeof problem.code === 'string' ? problem.code : `HTTP_${response.status}`;
  const message = [problem.detail, problem.title, problem.message].find((part) => typeof part === 'string');
  const fields = Array.isArray(problem.errors)
    ? problem.errors.filter((field) => typeof field?.path === 'string' && typeof field.message === 'string')
    : [];
  return new ApiError(
    response.status,
    code,
    /** @type {string | undefined} */ (message) ?? `HTTP ${response.status}`,
    fields,
  );
}

/**
 * Runs `attempt` again after transient failures (network, 429, 5xx), as the CLI does.
 * @template T
 * @param {() => Promise<T>} attempt
 * @param {AbortSignal} [signal]
 * @returns {Promise<T>}
 */
async function withRetries(attempt, signal) {
  for (let retry = 0; ; retry += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (retry >= 2 || !(error instanceof ApiError) || !error.transient) throw error;
      await sleep(500 * 2 ** retry, signal);
    }
  }
}

/**
 * @param {number} ms
 * @param {AbortSignal} [signal]
 * @returns {Promise<void>}
 */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/**
 * `POST /edits`. The idempotency key makes a retry after a lost answer return the first job
 * instead of starting (and paying for) a second one.
 * @param {EditRequest} request
 * @param {string} idempotencyKey
 * @returns {Promise<JobView>}
 */
export function submitEdit(request, idempotencyKey) {
  return withRetries(() =>
    call('POST', '/edits', { body: request, headers: { 'idempotency-key': idempotencyKey } }),
  );
}

/**
 * `GET /edits/{id}`: the job, with presigned URLs of its outputs.
 * @param {string} id
 * @param {AbortSignal} [signal]
 * @returns {Promise<JobView>}
 */
export function getJob(id, signal) {
  return call('GET', `/edits/${encodeURIComponent(id)}`, { signal });
}

/**
 * `POST /edits/{id}/cancel` (only while RunComfy has not started the job).
 * @param {string} id
 * @returns {Promise<JobView>}
 */
export function cancelJob(id) {
  return call('POST', `/edits/${encodeURIComponent(id)}/cancel`);
}

/**
 * `GET /edits` with filters; `nextToken` continues a previous page of the same filters.
 * @param {JobFilters} filters
 * @param {{ nextToken?: string, limit?: number, signal?: AbortSignal }} [options]
 * @returns {Promise<JobPage>}
 */
export function listJobs(filters, options = {}) {
  const query = new URLSearchParams();
  if (filters.status && filters.status.length > 0) query.set('status', filters.status.join(','));
  for (const name of /** @type {const} */ ([
    'caller_reference',
    'batch_id',
    'created_after',
    'created_before',
  ])) {
    const value = filters[name];
    if (value) query.set(name, value);
  }
  query.set('limit', String(options.limit ?? 20));
  if (options.nextToken) query.set('next_token', options.nextToken);
  return withRetries(() => call('GET', `/edits?${query}`, { signal: options.signal }), options.signal);
}

const UPLOAD_TYPES = ['image/png', 'image/jpeg', 'image/webp'];
const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;

/**
 * An image's type from its first bytes, as the CLI tells it (not from the file's name).
 * @param {Blob} file
 * @returns {Promise<string | undefined>}
 */
export async function sniffImageType(file) {
  const head = new Uint8Array(await file.slice(0, 12).arrayBuffer());
  const ascii = (/** @type {number} */ from, /** @type {number} */ to) =>
    String.fromCharCode(...head.subarray(from, to));
  if (head[0] === 0x89 && ascii(1, 4) === 'PNG') return 'image/png';
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'image/jpeg';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  return undefined;
}

/**
 * Uploads a picked file as an input image: `POST /uploads` for a presigned PUT, then the PUT
 * straight to storage. Returns the `s3://` URI to put in `image_urls`.
 * @param {File} file
 * @returns {Promise<string>}
 */
export async function uploadFile(file) {
  const contentType = await sniffImageType(file);
  if (!contentType || !UPLOAD_TYPES.includes(contentType)) {
    throw new ApiError(0, 'IMAGE_TYPE_UNSUPPORTED', `${file.name} is not a PNG, JPEG or WebP image`);
  }
  if (file.size > MAX_UPLOAD_BYTES) {
    throw new ApiError(0, 'IMAGE_TOO_LARGE', `${file.name} is larger than 50 MiB`);
  }
  /** @type {UploadTicket} */
  const ticket = await withRetries(() =>
    call('POST', '/uploads', {
      body: { content_type: contentType, size_bytes: file.size, filename: file.name.slice(-200) },
    }),
  );
  await withRetries(() => put(ticket, file));
  return ticket.s3_uri;
}

/**
 * @param {UploadTicket} ticket
 * @param {File} file
 */
async function put(ticket, file) {
  // The signature covers content-type and content-length; the browser sets the length itself.
  const headers = Object.fromEntries(
    Object.entries(ticket.headers).filter(([name]) => name.toLowerCase() !== 'content-length'),
  );
  let response;
  try {
    response = await fetch(ticket.upload_url, {
      method: ticket.method,
      headers,
      body: file,
      mode: 'cors',
      credentials: 'omit',
    });
  } catch (error) {
    throw new ApiError(0, 'UPLOAD_FAILED', `storage did not take ${file.name} (${String(error)})`);
  }
  // Read whole (it is short), so the request ends rather than being cut off with its body.
  const text = await response.text().catch(() => '');
  if (!response.ok) {
    const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
    throw new ApiError(
      response.status,
      'UPLOAD_FAILED',
      `storage refused ${file.name}: HTTP ${response.status}${code ? ` ${code}` : ''}`,
    );
  }
}
