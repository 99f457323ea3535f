import * as z from 'zod/mini';
import { type FieldIssue, ValidationError } from './errors.ts';

/*
 * The rules every string a caller sends must follow, written so that one zod schema is both the
 * server's check and the OpenAPI document's constraint: lengths, and regular expressions that
 * mean the same to JavaScript (the server), to JSON Schema validators and to Python (fuzzers).
 * So no `\d`, `\w` or `\s` (Unicode-aware in some engines, not in others), no flags, no lookaround.
 *
 * What no pattern can say is checked beside it and named in the field's description: a string
 * must be well-formed Unicode (a lone UTF-16 surrogate such as "\ud800" can be sent as a JSON
 * escape, but DynamoDB, SNS and EventBridge refuse to store or carry it).
 */

/** C0 control characters and DEL, which no field takes (SNS attributes only carry XML characters). */
const CONTROLS = String.raw`\u0000-\u001f\u007f`;
/** The same, less tab, line feed and carriage return, which multi-line text may carry. */
const CONTROLS_BUT_LINE_BREAKS = String.raw`\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f`;
/** Controls, space, and the Unicode spaces that JavaScript's `trim()` removes. */
const BLANK = String.raw`\u0000-\u0020\u007f\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff`;

/** One line of text: no control characters. */
export const SINGLE_LINE = new RegExp(`^[^${CONTROLS}]*$`);
/** Text that may span lines (tabs and line breaks), with at least one character that is not blank. */
export const VISIBLE_TEXT = new RegExp(
  `^[^${CONTROLS_BUT_LINE_BREAKS}]*[^${BLANK}][^${CONTROLS_BUT_LINE_BREAKS}]*$`,
);
/**
 * An id of the caller's, carried as an SNS message attribute: XML characters only, so no control
 * characters (C0, DEL, C1) and neither U+FFFE nor U+FFFF.
 */
export const ATTRIBUTE_TEXT = new RegExp(String.raw`^[^${CONTROLS}\u0080-\u009f\ufffe\uffff]*$`);

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const TOP_LABEL = '[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const PORT = '(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?';
/** Path, query and fragment: RFC 3986 characters, and `%` only as a percent-escape. */
const PATH = String.raw`(?:[/?#](?:[A-Za-z0-9._~!$&'()*+,;=:@/?#\[\]-]|%[0-9A-Fa-f]{2})*)?`;

/** An `https://` URL to a host name or IPv4 address (no IPv6 literal, no user name or password). */
export const HTTPS_URL = new RegExp(`^https://${LABEL}(?:\\.${LABEL})*${PORT}${PATH}$`);
/**
 * An `https://` URL to a DNS name with a dot and an alphabetic top label: no IP literal and no
 * dotless name (`localhost`), so a webhook cannot be aimed at the pipeline's own network by address.
 */
export const PUBLIC_HTTPS_URL = new RegExp(`^https://(?:${LABEL}\\.)+${TOP_LABEL}${PORT}${PATH}$`);
/** `s3://bucket/key`: a bucket name and a key of at most 1,024 characters without control characters. */
export const S3_URI = new RegExp(`^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/([^${CONTROLS}]{1,1024})$`);
/** An input image: an `https://` URL or an `s3://` URI. */
export const IMAGE_REFERENCE = new RegExp(
  `^(?:${HTTPS_URL.source.slice(1, -1)}|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^${CONTROLS}]{1,1024})$`,
);

/** Every string field of a request must be well-formed Unicode: nothing downstream stores a lone surrogate. */
export const wellFormed = () =>
  z.refine<string>((value) => value.isWellFormed(), 'must not contain lone UTF-16 surrogates');

const codePoints = (value: string) => {
  let count = 0;
  for (const _ of value) count += 1;
  return count;
};

/**
 * At most `max` characters, counted as JSON Schema counts them (Unicode code points, so 😀 is
 * one), not as `string.length` does (UTF-16 units), so the document and the server agree.
 */
export const maxChars = (max: number, message = `must be at most ${max} characters`) => [
  z.refine<string>((value) => value.length <= max || codePoints(value) <= max, {
    error: message,
    abort: true,
  }),
  z.meta({ maxLength: max }),
];

export interface TextRule {
  /** @default 0 */
  min?: number;
  max: number;
  pattern?: RegExp;
  /** What the pattern requires, as the caller is told. */
  patternMessage?: string;
  description?: string;
}

/**
 * A string field: well-formed Unicode, `min`–`max` characters, matching `pattern`. The first rule
 * it breaks is the one reported (an empty prompt is "must not be empty", not also the pattern's).
 *
 * @example
 * const CallerReference = text({ min: 1, max: 128, pattern: ATTRIBUTE_TEXT, patternMessage: 'no control characters' });
 */
export function text(rule: TextRule) {
  const min = rule.min ?? 0;
  return z.string('must be a string').check(
    ...(min > 0
      ? [
          z.minLength(min, {
            error: min === 1 ? 'must not be empty' : `must be at least ${min} characters`,
            abort: true,
          }),
        ]
      : []),
    ...maxChars(rule.max),
    ...(rule.pattern
      ? [z.regex(rule.pattern, { error: rule.patternMessage ?? 'has an invalid format', abort: true })]
      : []),
    wellFormed(),
    ...(rule.description ? [z.describe(rule.description)] : []),
  );
}

/** Field issues kept per error: a hostile request can fail on thousands of keys at once. */
export const MAX_FIELD_ISSUES = 20;
const MAX_ISSUE_TEXT = 300;

const clip = (value: string) =>
  value.length <= MAX_ISSUE_TEXT ? value : `${value.slice(0, MAX_ISSUE_TEXT).toWellFormed()}…`;

/**
 * Turns zod issues into field paths a caller can act on (`image_urls/1`, `(root)` for the body),
 * at most {@link MAX_FIELD_ISSUES} of them, each clipped: they are answered, stored on rejected
 * jobs and carried in events, all of which have size limits.
 */
export function toFieldIssues(issues: readonly z.core.$ZodIssue[]): FieldIssue[] {
  const fields = issues.slice(0, MAX_FIELD_ISSUES).map((issue) => ({
    path: clip(issue.path.length === 0 ? '(root)' : issue.path.map(String).join('/')).toWellFormed(),
    // A record's bad key: the key's own rule says what is wrong better than zod's generic message.
    message: clip(
      issue.code === 'invalid_key' && issue.issues[0] ? issue.issues[0].message : issue.message,
    ).toWellFormed(),
  }));
  if (issues.length > MAX_FIELD_ISSUES) {
    fields.push({ path: '(root)', message: `and ${issues.length - MAX_FIELD_ISSUES} more problems` });
  }
  return fields;
}

/** Parses `value` or throws a {@link ValidationError} naming every bad field. */
export function parseOrThrow<T extends z.ZodMiniType>(schema: T, value: unknown, what: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(`${what} is invalid`, toFieldIssues(result.error.issues));
  return result.data;
}
