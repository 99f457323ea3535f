import { OutputCopyError } from './errors.ts';

/**
 * Where the result handler may download outputs from. RunComfy serves them from `*.runcomfy.net`
 * over https on port 443, and its official client follows no redirects; anything else is refused
 * before a connection is made, so a compromised or spoofed result cannot point the function at
 * internal services (SSRF) or at a huge file.
 */
export interface DownloadPolicy {
  /**
   * Host names, matched case-insensitively: `files.example.com` matches exactly, `*.runcomfy.net`
   * matches any subdomain at any depth (not `runcomfy.net` itself). IP addresses match exactly.
   */
  allowedHosts: string[];
  /** Largest output accepted, in bytes. */
  maxBytes: number;
  /**
   * Accept plain `http:` for loopback hosts that `allowedHosts` names: the local runtime and
   * tests serve outputs from 127.0.0.1. Never set in AWS.
   */
  allowLoopbackHttp: boolean;
}

const stripBrackets = (host: string) =>
  host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;

const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** True for hosts that can only mean this machine. `URL` has already normalised `127.1`, `0x7f.0.0.1`. */
export function isLoopbackHost(hostname: string): boolean {
  const host = stripBrackets(hostname.toLowerCase());
  return host === 'localhost' || host === '::1' || (IPV4.test(host) && host.startsWith('127.'));
}

function isIpAddress(host: string): boolean {
  return IPV4.test(host) || host.includes(':');
}

/** Whether `hostname` (as `URL` gives it: lower case, IPv6 in brackets) matches an allowlist entry. */
export function hostMatches(hostname: string, entry: string): boolean {
  const host = stripBrackets(hostname.toLowerCase());
  const pattern = stripBrackets(entry.trim().toLowerCase());
  if (!pattern.startsWith('*.')) return host === pattern;
  const suffix = pattern.slice(1); // ".runcomfy.net"
  if (suffix.length < 2 || isIpAddress(host) || !host.endsWith(suffix)) return false;
  // Every label before the suffix must be real: ".runcomfy.net" or "a..runcomfy.net" match nothing.
  const labels = host.slice(0, -suffix.length).split('.');
  return labels.every((label) => label.length > 0);
}

/**
 * Checks an output URL against the policy and returns it parsed, or throws an
 * {@link OutputCopyError} (`insecure_url` or `host_not_allowed`) naming the URL without its query.
 *
 * @example
 * const policy = { allowedHosts: ['*.runcomfy.net'], maxBytes: 50 * 1024 * 1024, allowLoopbackHttp: false };
 * checkDownloadUrl('https://playgrounds-storage-public.runcomfy.net/out/1.png', policy); // URL
 * checkDownloadUrl('https://runcomfy.net.evil.com/1.png', policy); // throws host_not_allowed
 */
export function checkDownloadUrl(url: string, policy: DownloadPolicy): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new OutputCopyError('insecure_url', url, 'output URL is not a valid absolute URL', {
      cause: error,
    });
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new OutputCopyError('insecure_url', url, 'output URL must not carry credentials');
  }
  if (parsed.protocol === 'https:') {
    // `URL` drops a default `:443`, so any port left is a non-standard one.
    if (parsed.port !== '') {
      throw new OutputCopyError(
        'insecure_url',
        url,
        `output URL must use the default https port, not ${parsed.port}`,
      );
    }
  } else if (parsed.protocol === 'http:') {
    if (!policy.allowLoopbackHttp || !isLoopbackHost(parsed.hostname)) {
      throw new OutputCopyError('insecure_url', url, 'output URL must use https');
    }
  } else {
    throw new OutputCopyError('insecure_url', url, `output URL must use https, not ${parsed.protocol}`);
  }
  if (!policy.allowedHosts.some((entry) => hostMatches(parsed.hostname, entry))) {
    throw new OutputCopyError('host_not_allowed', url, `output host ${parsed.hostname} is not allowed`);
  }
  return parsed;
}
