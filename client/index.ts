import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FluxEditBatches } from './batches.ts';
import {
  apiErrorFrom,
  FluxEditConfigError,
  FluxEditError,
  FluxEditNetworkError,
  WaitTimeoutError,
} from './errors.ts';
import { extensionFor, inspectImageFile } from './image-file.ts';
import { DEFAULT_RETRY_POLICY, isTransient, type RetryPolicy, sleep, withRetries } from './retry.ts';
import {
  type AwsCredentials,
  type AwsCredentialsProvider,
  type BearerToken,
  type RequestSigner,
  type SigningMode,
  signerFor,
} from './signing.ts';
import { downloadOutput, putFile, type TransferSend } from './transfers.ts';
import {
  type EditRequest,
  isTerminalStatus,
  type JobList,
  type JobView,
  type ListEditsQuery,
  type OutputView,
  type UploadedFile,
  type UploadTicket,
} from './types.ts';

export { type BatchCallOptions, type BatchWaitOptions, FluxEditBatches } from './batches.ts';
export * from './errors.ts';
export type { RetryPolicy } from './retry.ts';
export type { AwsCredentials, AwsCredentialsProvider, BearerToken, SigningMode } from './signing.ts';
export { defaultSigningMode, regionFromExecuteApiHost } from './signing.ts';
export * from './types.ts';

export interface FluxEditClientOptions {
  /** The API's base URL: `https://<id>.execute-api.<region>.amazonaws.com` or the local runtime's. */
  apiUrl: string;
  /** @default 'sigv4' for an `execute-api` host, 'none' otherwise */
  signing?: SigningMode;
  /** Region to sign for. @default parsed from the execute-api host, else AWS_REGION */
  region?: string;
  /** @default the AWS SDK's Node provider chain, loaded on first signed request */
  credentials?: AwsCredentials | AwsCredentialsProvider;
  /**
   * A bearer token (or a function returning the current one) for an API behind a JWT authorizer;
   * sent as `Authorization: Bearer …` on API calls only, never to the presigned storage URLs.
   * Replaces SigV4. The CLI reads it from `--token` or `FLUX_EDIT_TOKEN`. @default none
   */
  token?: BearerToken;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Retries of requests that are safe to repeat. @default { maxRetries: 2, baseDelayMs: 500, maxDelayMs: 10000 } */
  retry?: Partial<RetryPolicy>;
  /** Limit on each API call (not on uploads or downloads). @default 30000 */
  requestTimeoutMs?: number;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface WaitOptions extends CallOptions {
  /** Called with the job after every poll, including the first. */
  onProgress?: (job: JobView) => void;
  /** @default 1000 */
  pollIntervalMs?: number;
  /** Give up (with WaitTimeoutError) after this long; the job's own deadline ends it anyway. */
  timeoutMs?: number;
}

/** Consecutive failed polls `waitFor` sits out before it gives up. */
const MAX_CONSECUTIVE_POLL_FAILURES = 5;

/**
 * A typed client for the flux-edit pipeline's HTTP API.
 *
 * @example
 * const client = new FluxEditClient({ apiUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com' });
 * // behind a JWT authorizer: new FluxEditClient({ apiUrl, token: process.env.FLUX_EDIT_TOKEN })
 * const image = await client.uploadFile('./cup.png');
 * const job = await client.submit(
 *   { prompt: 'make the cup red', image_urls: [image.s3Uri] },
 *   { idempotencyKey: crypto.randomUUID() },
 * );
 * const done = await client.waitFor(job.id, { onProgress: (j) => console.log(j.status) });
 * if (done.status === 'succeeded') console.log(await client.download(done, './out'));
 */
export class FluxEditClient {
  readonly apiUrl: URL;
  readonly #fetch: typeof fetch;
  readonly #signer: RequestSigner;
  readonly #retry: RetryPolicy;
  readonly #requestTimeoutMs: number;
  /** Batches of edits: submit, follow, cancel (see {@link FluxEditBatches}). */
  readonly batches: FluxEditBatches;

  constructor(options: FluxEditClientOptions) {
    let apiUrl: URL;
    try {
      apiUrl = new URL(options.apiUrl);
    } catch (error) {
      throw new FluxEditConfigError('API_URL_INVALID', `not a URL: ${options.apiUrl}`, { cause: error });
    }
    if (apiUrl.protocol !== 'https:' && apiUrl.protocol !== 'http:') {
      throw new FluxEditConfigError('API_URL_INVALID', `the API URL must be http(s): ${options.apiUrl}`);
    }
    this.apiUrl = apiUrl;
    this.#signer = signerFor({ ...options, apiUrl });
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.batches = new FluxEditBatches({
      call: (method, path, callOptions) => this.#call(method, path, callOptions),
      upload: (path, file, signal) => this.#uploadLocal(path, file, signal),
    });
  }

  /**
   * `POST /edits`. With an `idempotencyKey`, a repeated submit (a retry after a lost answer)
   * returns the first job instead of starting and paying for a second one, so it is retried.
   */
  submit(input: EditRequest, options: CallOptions & { idempotencyKey?: string } = {}): Promise<JobView> {
    const headers: Record<string, string> = options.idempotencyKey
      ? { 'idempotency-key': options.idempotencyKey }
      : {};
    return this.#call<JobView>('POST', '/edits', {
      body: input,
      headers,
      retryable: options.idempotencyKey !== undefined,
      signal: options.signal,
    });
  }

  /** `GET /edits/{id}`; outputs carry short-lived presigned `url`s. */
  get(id: string, options: CallOptions = {}): Promise<JobView> {
    return this.#call<JobView>('GET', `/edits/${encodeURIComponent(id)}`, { retryable: true, ...options });
  }

  /** `POST /edits/{id}/cancel`; a job that already started fails with code `NOT_CANCELLABLE` (409). */
  cancel(id: string, options: CallOptions = {}): Promise<JobView> {
    // Cancelling is idempotent on the server: a cancelled job is returned as it is.
    return this.#call<JobView>('POST', `/edits/${encodeURIComponent(id)}/cancel`, {
      retryable: true,
      ...options,
    });
  }

  /**
   * `GET /edits`: one page of the caller's jobs (an admin's: everyone's), newest first unless
   * `sort: 'asc'`. Pass the page's `next_token` as `nextToken` for the next one; or use
   * {@link list}, which follows them.
   */
  listPage(query: ListEditsQuery = {}, options: CallOptions & { nextToken?: string } = {}): Promise<JobList> {
    const params = new URLSearchParams();
    const time = (value: Date | string) => (value instanceof Date ? value.toISOString() : value);
    if (query.status !== undefined) params.set('status', [query.status].flat().join(','));
    if (query.callerReference !== undefined) params.set('caller_reference', query.callerReference);
    if (query.batchId !== undefined) params.set('batch_id', query.batchId);
    if (query.createdAfter !== undefined) params.set('created_after', time(query.createdAfter));
    if (query.createdBefore !== undefined) params.set('created_before', time(query.createdBefore));
    if (query.sort !== undefined) params.set('sort', query.sort);
    if (query.pageSize !== undefined) params.set('limit', String(query.pageSize));
    if (options.nextToken !== undefined) params.set('next_token', options.nextToken);
    const search = params.toString();
    return this.#call<JobList>('GET', `/edits${search ? `?${search}` : ''}`, {
      retryable: true,
      signal: options.signal,
    });
  }

  /**
   * Every job matching `query`, page after page, as an async iterator: the next page is asked for
   * only when the loop gets there (break out to stop). Pages never carry presigned output URLs.
   *
   * @example
   * for await (const job of client.list({ status: 'failed', createdAfter: new Date(Date.now() - 86_400_000) })) {
   *   console.log(job.id, job.error?.code);
   * }
   */
  async *list(
    query: ListEditsQuery = {},
    options: CallOptions = {},
  ): AsyncGenerator<JobView, void, undefined> {
    let nextToken: string | undefined;
    do {
      const page = await this.listPage(query, { ...options, nextToken });
      yield* page.items;
      nextToken = page.next_token;
    } while (nextToken);
  }

  /** `POST /uploads`: a presigned PUT for one input image (or a batch manifest). */
  createUpload(
    request: { contentType: UploadedFile['contentType']; sizeBytes: number; filename?: string },
    options: CallOptions = {},
  ): Promise<UploadTicket> {
    return this.#call<UploadTicket>('POST', '/uploads', {
      body: { content_type: request.contentType, size_bytes: request.sizeBytes, filename: request.filename },
      // An extra ticket nobody uses costs nothing.
      retryable: true,
      signal: options.signal,
    });
  }

  /**
   * Uploads a local PNG, JPEG or WebP image (type from its magic bytes, not its name) and
   * returns the `s3Uri` to put in `image_urls`. The file is streamed, never read whole.
   */
  async uploadFile(path: string, options: CallOptions = {}): Promise<UploadedFile> {
    const image = await inspectImageFile(path);
    return this.#uploadLocal(image.path, image, options.signal);
  }

  /** A ticket for the file, then the file streamed to it (retried: a PUT may be repeated). */
  async #uploadLocal(
    path: string,
    file: { contentType: string; sizeBytes: number; filename: string },
    signal: AbortSignal | undefined,
  ): Promise<UploadedFile> {
    const ticket = await this.createUpload(
      { ...file, contentType: file.contentType as UploadedFile['contentType'] },
      { signal },
    );
    await withRetries(() => this.#put(ticket, path, signal), {
      policy: this.#retry,
      retryable: true,
      signal,
    });
    return {
      s3Uri: ticket.s3_uri,
      contentType: file.contentType as UploadedFile['contentType'],
      sizeBytes: file.sizeBytes,
      filename: file.filename,
    };
  }

  /**
   * Polls a job until it ends and returns it in its final state, whichever that is: a failed
   * job is an answer, not an exception. Transient poll failures are sat out. Rejects with
   * `WaitTimeoutError` after `timeoutMs`, and with the signal's reason when aborted; either
   * way the job itself carries on.
   */
  async waitFor(id: string, options: WaitOptions = {}): Promise<JobView> {
    const { signal, timeoutMs } = options;
    const pollIntervalMs = options.pollIntervalMs ?? 1000;
    const startedAt = Date.now();
    let job: JobView | undefined;
    let failures = 0;
    for (;;) {
      signal?.throwIfAborted();
      try {
        job = await this.get(id, { signal });
        failures = 0;
        options.onProgress?.(job);
        if (isTerminalStatus(job.status)) return job;
      } catch (error) {
        failures += 1;
        if (signal?.aborted || !isTransient(error) || failures >= MAX_CONSECUTIVE_POLL_FAILURES) throw error;
      }
      const remainingMs = timeoutMs === undefined ? pollIntervalMs : timeoutMs - (Date.now() - startedAt);
      if (remainingMs <= 0) throw new WaitTimeoutError(id, timeoutMs ?? 0, job);
      await sleep(Math.min(pollIntervalMs, remainingMs), signal);
    }
  }

  /**
   * Saves a job's outputs into `dir` as `<jobId>-<index>.<ext>` and returns their paths. Each
   * file is checked against the job's sha256 and appears only once complete. A job without
   * presigned URLs (as `submit` and `cancel` return it) is read again first.
   */
  async download(job: JobView, dir: string, options: CallOptions = {}): Promise<string[]> {
    let outputs = job.outputs ?? [];
    if (outputs.some((output) => !output.url)) outputs = (await this.get(job.id, options)).outputs ?? [];
    if (outputs.length === 0) return [];
    await mkdir(dir, { recursive: true });
    return Promise.all(
      outputs.map((output) => {
        const path = join(
          dir,
          `${job.id}-${output.index}.${extensionFor(output.content_type, job.input.output_format)}`,
        );
        return withRetries(() => this.#downloadOne(output, path, options.signal), {
          policy: this.#retry,
          retryable: true,
          signal: options.signal,
        });
      }),
    );
  }

  async #call<T>(
    method: 'GET' | 'POST',
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; retryable: boolean; signal?: AbortSignal },
  ): Promise<T> {
    const url = new URL(`${this.apiUrl.pathname.replace(/\/+$/, '')}${path}`, this.apiUrl);
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = {
      accept: 'application/json, application/problem+json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    };
    return withRetries(
      async () => {
        // Signed per attempt: a signature is only valid for a few minutes around x-amz-date.
        const signed = await this.#signer.sign({ method, url, headers, body });
        const response = await this.#send(url, { method, headers: signed, body }, options.signal, true);
        if (!response.ok) throw await apiErrorFrom(response);
        return readJson<T>(response, `${method} ${url.pathname}`);
      },
      { policy: this.#retry, retryable: options.retryable, signal: options.signal },
    );
  }

  /** One fetch; network failures (not the caller's abort) become FluxEditNetworkError. */
  async #send(url: URL | string, init: RequestInit, signal: AbortSignal | undefined, timed: boolean) {
    const signals = [signal, timed ? AbortSignal.timeout(this.#requestTimeoutMs) : undefined].filter(
      (candidate) => candidate !== undefined,
    );
    try {
      return await this.#fetch(url, {
        ...init,
        signal: signals.length > 0 ? AbortSignal.any(signals) : undefined,
      });
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw new FluxEditNetworkError(typeof url === 'string' ? new URL(url).origin : url.origin, error);
    }
  }

  /** A fetch without the API's request timeout: transfers take as long as their size needs. */
  #transfer: TransferSend = (url, init, signal) => this.#send(url, init, signal, false);

  #put(ticket: UploadTicket, path: string, signal: AbortSignal | undefined): Promise<void> {
    return putFile(this.#transfer, ticket, path, signal);
  }

  #downloadOne(output: OutputView, path: string, signal: AbortSignal | undefined): Promise<string> {
    return downloadOutput(this.#transfer, output, path, signal);
  }
}

async function readJson<T>(response: Response, what: string): Promise<T> {
  const text = await response.text();
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new FluxEditError('INVALID_RESPONSE', `${what} answered HTTP ${response.status} without JSON`, {
      cause: error,
    });
  }
}
