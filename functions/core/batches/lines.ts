import { DEFAULTS } from '#contract/config';
import type { CallerFields, JobInput } from '../edit-request.ts';
import type { FieldIssue } from '../errors.ts';
import { checkEditRequest, type EditChecks } from '../jobs/check-edit.ts';
import { BATCH_LIMITS, type BatchLineIssue } from './batch.ts';

/** A line of a manifest: its number (1-based), its text, and where its bytes are (`end` exclusive). */
export interface ManifestLine {
  line: number;
  text: string;
  start: number;
  end: number;
}

/** No edit request comes near this (a prompt is at most 10,000 characters). */
export const MAX_LINE_BYTES = 64 * 1024;

const NEWLINE = 0x0a;

/**
 * Splits a stream of bytes into lines, with their numbers and byte offsets, reading as they
 * arrive: a 50 MiB manifest is never held whole. `\n` and `\r\n` both end a line; a last line
 * without one counts. A line longer than {@link MAX_LINE_BYTES} is cut there (it then fails
 * validation as the bad JSON it is) rather than buffered.
 *
 * @example
 * for await (const { line, text } of splitLines(s3Body)) console.log(line, text);
 */
export async function* splitLines(
  chunks: AsyncIterable<Uint8Array>,
  from: { line: number; byte: number } = { line: 1, byte: 0 },
): AsyncGenerator<ManifestLine> {
  let line = from.line;
  let lineStart = from.byte;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const emit = (end: number): ManifestLine => {
    const bytes = Buffer.concat(pending, Math.min(pendingBytes, MAX_LINE_BYTES));
    const text = bytes.toString('utf8').replace(/\r$/, '');
    const made = { line, text, start: lineStart, end };
    line += 1;
    lineStart = end;
    pending = [];
    pendingBytes = 0;
    return made;
  };
  for await (const chunk of chunks) {
    const buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let offset = 0;
    for (let newline = buffer.indexOf(NEWLINE); newline !== -1; newline = buffer.indexOf(NEWLINE, offset)) {
      keep(buffer.subarray(offset, newline));
      yield emit(lineStart + pendingBytes + 1);
      offset = newline + 1;
    }
    keep(buffer.subarray(offset));
  }
  if (pendingBytes > 0) yield emit(lineStart + pendingBytes);

  function keep(part: Buffer) {
    if (part.length === 0) return;
    // Past the limit only the length is kept: the text is cut, the offsets stay exact.
    if (pendingBytes < MAX_LINE_BYTES) pending.push(part.subarray(0, MAX_LINE_BYTES - pendingBytes));
    pendingBytes += part.length;
  }
}

/** A blank line separates nothing and asks for nothing: it is skipped, its number kept. */
export const isBlank = (text: string) => text.trim() === '';

export type LineCheck =
  | { ok: true; input: JobInput; caller: CallerFields }
  | { ok: false; issues: FieldIssue[] };

/** Checks one line of a manifest: JSON, then every check of an edit request. */
export function checkLine(text: string, checks: EditChecks): LineCheck {
  let request: unknown;
  try {
    request = JSON.parse(text);
  } catch {
    return { ok: false, issues: [{ path: '(root)', message: 'is not valid JSON' }] };
  }
  return checkEditRequest(request, checks);
}

/** A run of lines that one message of the batch queue makes the jobs of. */
export interface Chunk {
  chunk: number;
  /** Valid lines in it. */
  lines: number;
  fromLine: number;
  start: number;
  end: number;
}

/** What validating a whole manifest found. */
export interface ManifestReport {
  /** Edit requests (non-blank lines). */
  requests: number;
  invalidLines: number;
  /** Every bad line's issues, in line order. */
  issues: BatchLineIssue[];
  chunks: Chunk[];
  /** The manifest holds more requests than a batch may: reading stopped there. */
  tooManyLines: boolean;
}

/**
 * Validates a manifest line by line, and plans its chunks: runs of at most `chunkLines` valid
 * lines (bad and blank lines between them are inside the byte range, and skipped again when
 * the chunk is made). Stops reading once the manifest holds more than `maxLines` requests.
 */
export async function validateManifest(
  lines: AsyncIterable<ManifestLine>,
  checks: EditChecks,
  limits: { maxLines: number; chunkLines: number } = {
    maxLines: BATCH_LIMITS.manifestLines,
    chunkLines: DEFAULTS.batchChunkLines,
  },
): Promise<ManifestReport> {
  const report: ManifestReport = {
    requests: 0,
    invalidLines: 0,
    issues: [],
    chunks: [],
    tooManyLines: false,
  };
  let open: Chunk | undefined;
  for await (const { line, text, start, end } of lines) {
    if (isBlank(text)) continue;
    report.requests += 1;
    if (report.requests > limits.maxLines) {
      report.tooManyLines = true;
      break;
    }
    const check = checkLine(text, checks);
    if (!check.ok) {
      report.invalidLines += 1;
      report.issues.push(...check.issues.map((issue) => ({ line, ...issue })));
      continue;
    }
    if (!open || open.lines >= limits.chunkLines) {
      open = { chunk: report.chunks.length, lines: 0, fromLine: line, start, end };
      report.chunks.push(open);
    }
    open.lines += 1;
    open.end = end;
  }
  return report;
}

/**
 * Checks the edit requests of an inline batch (`POST /batches` with `requests`): each bad one's
 * issues carry its line (its position, 1-based) and its path in the request body.
 */
export function checkInlineRequests(requests: readonly unknown[], checks: EditChecks): BatchLineIssue[] {
  return requests.flatMap((request, index) => {
    const check = checkEditRequest(request, checks);
    return check.ok
      ? []
      : check.issues.map((issue) => ({
          line: index + 1,
          path: `requests/${index}${issue.path === '(root)' ? '' : `/${issue.path}`}`,
          message: issue.message,
        }));
  });
}
