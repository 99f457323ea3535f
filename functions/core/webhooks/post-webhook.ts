import type { WebhookHeaders } from './sign.ts';

export const WEBHOOK_TIMEOUT_MS = 10_000;
export const WEBHOOK_USER_AGENT = 'flux-edit-pipeline-webhooks/1';

export interface PostResult {
  /** Any 2xx. */
  delivered: boolean;
  /** The receiver's HTTP status; absent when it never answered. */
  statusCode?: number;
  /** Why it was not delivered, short and free of the URL (whose query may hold a token). */
  error?: string;
}

export type PostWebhook = (
  url: string,
  body: string,
  headers: WebhookHeaders,
  options?: { timeoutMs?: number },
) => Promise<PostResult>;

/**
 * POSTs one signed delivery. Redirects are not followed (a 3xx is a failed attempt): following
 * one would send the signed event to a host the caller never named. The body of the answer is
 * not read, only its status.
 */
export const postWebhook: PostWebhook = async (url, body, headers, options = {}) => {
  const timeoutMs = options.timeoutMs ?? WEBHOOK_TIMEOUT_MS;
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'user-agent': WEBHOOK_USER_AGENT },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    return { delivered: false, error: describeFailure(error, timeoutMs) };
  }
  await response.body?.cancel().catch(() => undefined);
  const statusCode = response.status;
  if (statusCode >= 200 && statusCode < 300) return { delivered: true, statusCode };
  if (statusCode >= 300 && statusCode < 400) {
    return { delivered: false, statusCode, error: `HTTP ${statusCode}: redirects are not followed` };
  }
  return { delivered: false, statusCode, error: `HTTP ${statusCode}` };
};

function describeFailure(error: unknown, timeoutMs: number): string {
  const name = (error as { name?: string } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return `timed out after ${timeoutMs / 1000} s`;
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  return code ? `connection failed (${code})` : 'connection failed';
}
