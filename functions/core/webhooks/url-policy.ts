import type { FieldIssue } from '../errors.ts';
import { isLoopbackHost } from '../outputs/download-policy.ts';

export interface WebhookUrlPolicy {
  /** Accept plain `http:` to loopback hosts: the local runtime and tests. Never set in AWS. */
  allowLoopbackHttp: boolean;
}

/**
 * Why a webhook URL may not be used, or undefined when it may: `https:` always; plain `http:`
 * only to a loopback host and only where the policy allows it (the local runtime); never with
 * a user name or password, which would be sent to whoever answers and shown on the job.
 */
export function webhookUrlProblem(url: string, policy: WebhookUrlPolicy): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be an absolute https:// URL';
  }
  if (parsed.username !== '' || parsed.password !== '') return 'must not contain a user name or password';
  if (parsed.protocol === 'https:') return undefined;
  if (parsed.protocol === 'http:' && policy.allowLoopbackHttp && isLoopbackHost(parsed.hostname)) {
    return undefined;
  }
  return 'must be an https:// URL';
}

/**
 * The field issue of a request's `webhook_url`, in the shape `checkS3Inputs` uses; empty when
 * the URL may be used (or none was given).
 *
 * @example
 * checkWebhookUrl('http://127.0.0.1:8080/hook', { allowLoopbackHttp: false });
 * // [{ path: 'webhook_url', message: 'must be an https:// URL' }]
 */
export function checkWebhookUrl(url: string | undefined, policy: WebhookUrlPolicy): FieldIssue[] {
  if (url === undefined) return [];
  const problem = webhookUrlProblem(url, policy);
  return problem ? [{ path: 'webhook_url', message: problem }] : [];
}
