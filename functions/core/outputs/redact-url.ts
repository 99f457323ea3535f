const MAX_LENGTH = 300;

/**
 * The part of a URL that is safe to log: scheme, host and path. The query (presigned URL
 * signatures), the fragment and any userinfo are dropped; anything unparseable is cut at the
 * first `?` or `#`.
 */
export function redactUrl(url: string): string {
  let safe: string;
  try {
    const parsed = new URL(url);
    safe =
      parsed.protocol === 'http:' || parsed.protocol === 'https:'
        ? `${parsed.origin}${parsed.pathname}`
        : // `data:` and friends carry their payload in the path: keep only the scheme.
          `${parsed.protocol}…`;
  } catch {
    safe = url.split(/[?#]/, 1)[0] ?? '';
    const at = safe.lastIndexOf('@');
    if (at >= 0) safe = safe.slice(at + 1);
  }
  return safe.length > MAX_LENGTH ? `${safe.slice(0, MAX_LENGTH)}…` : safe;
}
