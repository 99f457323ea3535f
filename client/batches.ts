import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { BatchWaitTimeoutError, InputFileError } from './errors.ts';
import { isTransient, sleep } from './retry.ts';
import {
  type BatchRequest,
  type BatchView,
  FINAL_BATCH_STATUSES,
  MANIFEST_CONTENT_TYPE,
  MAX_MANIFEST_BYTES,
  type UploadedFile,
} from './types.ts';

export interface BatchCallOptions {
  signal?: AbortSignal;
}

/** What the batch API needs of the client: its calls and its uploads. */
export interface BatchTransport {
  call<T>(
    method: 'GET' | 'POST',
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; retryable: boolean; signal?: AbortSignal },
  ): Promise<T>;
  upload(
    path: string,
    file: { contentType: string; sizeBytes: number; filename: string },
    signal?: AbortSignal,
  ): Promise<UploadedFile>;
}

export interface BatchWaitOptions extends BatchCallOptions {
  /** Called with the batch after every poll, including the first. */
  onProgress?: (batch: BatchView) => void;
  /** @default 2000 */
  pollIntervalMs?: number;
  /** Give up (with BatchWaitTimeoutError) after this long; the batch carries on. */
  timeoutMs?: number;
}

/** Consecutive failed polls `waitFor` sits out before it gives up. */
const MAX_CONSECUTIVE_POLL_FAILURES = 5;

/**
 * Batches: `client.batches`. Submit up to 1,000 edit requests at once, or a JSONL manifest of up
 * to 50,000 (one edit request per line), follow the batch's counts, cancel what has not started,
 * and read its results manifest once it completes. Each line is a normal job too
 * (`client.list({ batchId })`).
 *
 * @example
 * const batch = await client.batches.submitFile('./catalogue.jsonl', { idempotencyKey: randomUUID() });
 * const done = await client.batches.waitFor(batch.id, { onProgress: (b) => console.log(b.counts) });
 * console.log(done.results?.url);
 */
export class FluxEditBatches {
  readonly #transport: BatchTransport;

  constructor(transport: BatchTransport) {
    this.#transport = transport;
  }

  /** `POST /batches`. With an `idempotencyKey`, a retried submit returns the first batch, so it is retried. */
  submit(
    request: BatchRequest,
    options: BatchCallOptions & { idempotencyKey?: string } = {},
  ): Promise<BatchView> {
    return this.#transport.call<BatchView>('POST', '/batches', {
      body: request,
      headers: options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {},
      retryable: options.idempotencyKey !== undefined,
      signal: options.signal,
    });
  }

  /** Uploads a local JSONL manifest (streamed) and returns the `s3Uri` to submit as `manifest`. */
  async uploadManifest(path: string, options: BatchCallOptions = {}): Promise<UploadedFile> {
    let sizeBytes: number;
    try {
      sizeBytes = (await stat(path)).size;
    } catch (error) {
      const reason = (error as { code?: string }).code === 'ENOENT' ? 'no such file' : String(error);
      throw new InputFileError('MANIFEST_UNREADABLE', `cannot read ${path}: ${reason}`, { cause: error });
    }
    if (sizeBytes === 0) throw new InputFileError('MANIFEST_EMPTY', `${path} is empty`);
    if (sizeBytes > MAX_MANIFEST_BYTES) {
      throw new InputFileError(
        'MANIFEST_TOO_LARGE',
        `${path} has ${sizeBytes} bytes; at most 50 MiB are accepted`,
      );
    }
    return this.#transport.upload(
      path,
      { contentType: MANIFEST_CONTENT_TYPE, sizeBytes, filename: basename(path) },
      options.signal,
    );
  }

  /** Uploads a local manifest and submits it as a batch. */
  async submitFile(
    path: string,
    options: BatchCallOptions & { idempotencyKey?: string; onInvalid?: 'refuse' | 'skip' } = {},
  ): Promise<BatchView> {
    const manifest = await this.uploadManifest(path, options);
    return this.submit(
      { manifest: manifest.s3Uri, ...(options.onInvalid ? { on_invalid: options.onInvalid } : {}) },
      options,
    );
  }

  /** `GET /batches/{id}`: status, counts per job status, cost, and the results manifest once completed. */
  get(id: string, options: BatchCallOptions = {}): Promise<BatchView> {
    return this.#transport.call<BatchView>('GET', `/batches/${encodeURIComponent(id)}`, {
      retryable: true,
      signal: options.signal,
    });
  }

  /** `POST /batches/{id}/cancel`: cancels the batch's jobs that have not started (carried out in the background). */
  cancel(id: string, options: BatchCallOptions = {}): Promise<BatchView> {
    return this.#transport.call<BatchView>('POST', `/batches/${encodeURIComponent(id)}/cancel`, {
      // Idempotent on the server: a cancel asked again answers the same.
      retryable: true,
      signal: options.signal,
    });
  }

  /**
   * Polls a batch until it is `completed` (or `refused`) and returns it: a refused batch is an
   * answer, not an exception. Transient poll failures are sat out.
   */
  async waitFor(id: string, options: BatchWaitOptions = {}): Promise<BatchView> {
    const { signal, timeoutMs } = options;
    const pollIntervalMs = options.pollIntervalMs ?? 2000;
    const startedAt = Date.now();
    let batch: BatchView | undefined;
    let failures = 0;
    for (;;) {
      signal?.throwIfAborted();
      try {
        batch = await this.get(id, { signal });
        failures = 0;
        options.onProgress?.(batch);
        if (FINAL_BATCH_STATUSES.includes(batch.status)) return batch;
      } catch (error) {
        failures += 1;
        if (signal?.aborted || !isTransient(error) || failures >= MAX_CONSECUTIVE_POLL_FAILURES) throw error;
      }
      const remainingMs = timeoutMs === undefined ? pollIntervalMs : timeoutMs - (Date.now() - startedAt);
      if (remainingMs <= 0) throw new BatchWaitTimeoutError(id, timeoutMs ?? 0, batch);
      await sleep(Math.min(pollIntervalMs, remainingMs), signal);
    }
  }
}
