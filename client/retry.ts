import { FluxEditApiError, FluxEditNetworkError, TransferError } from './errors.ts';

export interface RetryPolicy {
  /** Attempts after the first. @default 2 */
  maxRetries: number;
  /** First backoff; doubles per attempt, with jitter. @default 500 */
  baseDelayMs: number;
  /** Upper bound on any wait, `Retry-After` included. @default 10000 */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxRetries: 2, baseDelayMs: 500, maxDelayMs: 10_000 };

const RETRYABLE_STATUSES = new Set([429, 500, 502, 503, 504]);

/**
 * Failures worth another try of a request that is safe to repeat: the network, throttling and
 * 5xx answers, from the API (its own 500 says "it is safe to retry") or from storage. 4xx never.
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof FluxEditNetworkError) return true;
  const status =
    error instanceof FluxEditApiError || error instanceof TransferError ? error.status : undefined;
  return status !== undefined && RETRYABLE_STATUSES.has(status);
}

/** Runs `attempt` until it succeeds, fails for good, or the policy's retries are spent. */
export async function withRetries<T>(
  attempt: () => Promise<T>,
  options: {
    policy: RetryPolicy;
    retryable: boolean;
    signal?: AbortSignal;
  },
): Promise<T> {
  const { policy } = options;
  for (let retry = 0; ; retry += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (!options.retryable || retry >= policy.maxRetries || !isTransient(error)) throw error;
      const backoff = policy.baseDelayMs * 2 ** retry * (0.5 + Math.random() / 2);
      const requested = error instanceof FluxEditApiError ? error.retryAfterMs : undefined;
      const delay = Math.min(requested ?? backoff, policy.maxDelayMs);
      await sleep(delay, options.signal);
    }
  }
}

/** A timer that an abort ends early, rejecting with the signal's reason. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
