/**
 * Reading values of any JSON shape out of RunComfy's bodies: output URLs under whichever key
 * holds them, and a readable message for an `error` of any type.
 */
import type { FieldIssue } from '../errors.ts';

export const MESSAGE_LENGTH = 1_000;

const OUTPUT_KEYS = ['image', 'images', 'video', 'videos'] as const;
const MAX_SCAN_DEPTH = 6;

function asHttpUrl(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  return /^https?:\/\/\S+$/i.test(text) && URL.canParse(text) ? text : undefined;
}

/** A string, an array of strings, or fal-style `{ url }` objects (and arrays of them). */
function urlsOf(value: unknown): string[] {
  const items = Array.isArray(value) ? value : [value];
  return items.flatMap((item) => {
    const url = asHttpUrl(item) ?? asHttpUrl((item as { url?: unknown } | null)?.url);
    return url === undefined ? [] : [url];
  });
}

function scanForUrls(value: unknown, depth: number, found: string[]): void {
  if (depth > MAX_SCAN_DEPTH) return;
  const url = asHttpUrl(value);
  if (url !== undefined) found.push(url);
  else if (Array.isArray(value)) for (const item of value) scanForUrls(item, depth + 1, found);
  else if (typeof value === 'object' && value !== null)
    for (const item of Object.values(value)) scanForUrls(item, depth + 1, found);
}

/**
 * Every output URL under `output.image`, `images`, `video`, `videos` (each a string or an array),
 * in that order, deduplicated. If none of those keys holds a URL, any URL-looking string anywhere
 * under `output` is taken instead, so an unexpected key name does not lose a paid-for result.
 *
 * @example extractOutputUrls({ image: 'https://x/a.png', images: ['https://x/a.png', 'https://x/b.png'] })
 * // ['https://x/a.png', 'https://x/b.png']
 */
export function extractOutputUrls(output: unknown): string[] {
  if (typeof output !== 'object' || output === null) return [...new Set(urlsOf(output))];
  const record = output as Record<string, unknown>;
  const named = OUTPUT_KEYS.flatMap((key) => urlsOf(record[key]));
  if (named.length > 0) return [...new Set(named)];
  const found: string[] = [];
  scanForUrls(output, 0, found);
  return [...new Set(found)];
}

const MESSAGE_KEYS = [
  'error_message',
  'message',
  'error',
  'msg',
  'reason',
  'detail',
  'errorMessage',
  'description',
];
const CODE_KEYS = ['error_code', 'errorCode', 'code'];

export function truncate(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length)}…`;
}

/**
 * A readable message for RunComfy's `error`, whatever its JSON type: a string, a JSON-encoded
 * string, `{error_code, error_message}`, the Serverless API's `[{errorCode, error, debugInfo}]`,
 * a FastAPI `detail` list, or a bare number. `undefined` when there is nothing to say.
 */
export function describeUpstreamError(value: unknown, depth = 0): string | undefined {
  if (value === null || value === undefined || depth > MAX_SCAN_DEPTH) return undefined;
  if (typeof value === 'string') {
    const text = value.trim();
    if (text === '') return undefined;
    if (/^[[{"]/.test(text)) {
      try {
        return describeUpstreamError(JSON.parse(text), depth + 1) ?? text;
      } catch {
        return truncate(text, MESSAGE_LENGTH);
      }
    }
    return truncate(text, MESSAGE_LENGTH);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) {
    const parts = value.map((item) => describeUpstreamError(item, depth + 1)).filter((part) => part);
    return parts.length > 0 ? truncate([...new Set(parts)].join('; '), MESSAGE_LENGTH) : undefined;
  }
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const text = MESSAGE_KEYS.map((key) => describeUpstreamError(record[key], depth + 1)).find(
      (part) => part,
    );
    const code = CODE_KEYS.map((key) => record[key]).find(
      (candidate) => typeof candidate === 'number' || (typeof candidate === 'string' && candidate !== ''),
    );
    const where = Array.isArray(record.loc) ? record.loc.map(String).join('.') : undefined;
    const located = text !== undefined && where ? `${where}: ${text}` : text;
    if (located !== undefined)
      return truncate(code === undefined ? located : `${located} (code ${code})`, MESSAGE_LENGTH);
    if (code !== undefined) return `error code ${code}`;
    const json = JSON.stringify(value);
    return json === '{}' ? undefined : truncate(json, MESSAGE_LENGTH);
  }
  return undefined;
}

/** FastAPI-style `detail: [{loc: ['body', 'seed'], msg}]` as field issues (`seed`). */
export function detailIssues(detail: unknown): FieldIssue[] | undefined {
  if (!Array.isArray(detail)) return undefined;
  const issues = detail.flatMap((item): FieldIssue[] => {
    if (typeof item !== 'object' || item === null) return [];
    const { loc, msg, message } = item as { loc?: unknown; msg?: unknown; message?: unknown };
    const text = typeof msg === 'string' ? msg : typeof message === 'string' ? message : undefined;
    if (text === undefined) return [];
    const path = Array.isArray(loc)
      ? loc.map(String).filter((part, index) => index > 0 || part !== 'body')
      : [];
    return [{ path: path.length === 0 ? '(root)' : path.join('/'), message: truncate(text, MESSAGE_LENGTH) }];
  });
  return issues.length > 0 ? issues : undefined;
}
