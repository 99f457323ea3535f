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
  if (parsed.protocol === 'http:' && policy.allowLoopbackHttp && isLoopbackHost(parsed.hostname)) {
    return undefined;
  }
  if (parsed.protocol !== 'https:') return 'must be an https:// URL';
  // Outside the local runtime, a caller must not aim the pipeline at its own network (SSRF):
  // the instance metadata service, VPC-internal hosts, loopback. Names that resolve there later
  // are not caught by this cheap check; the function has no VPC access to reach them anyway.
  if (!policy.allowLoopbackHttp && isInternalHost(parsed.hostname)) {
    return 'must not point to a loopback, private or link-local address';
  }
  return undefined;
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

/** IP literals in loopback, private, link-local, CGNAT or unique-local ranges, and `localhost` names. */
export function isInternalHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal')) return true;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (v4) {
    const [a = 0, b = 0] = v4.slice(1).map(Number);
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 100 && b >= 64 && b <= 127) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168)
    );
  }
  if (host.includes(':')) {
    return (
      host === '::' ||
      host === '::1' ||
      /^f[cd]/.test(host) ||
      /^fe[89ab]/.test(host) ||
      host.startsWith('::ffff:')
    );
  }
  return false;
}
