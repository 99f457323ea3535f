import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODE } from '#core/errors';
import { JOB_ERROR_CODES } from '#core/jobs/job';
import { RUNCOMFY_ERROR_CODES } from '#core/runcomfy/errors';

/*
 * One error-code convention across the HTTP answers (problem+json `code`), the job record
 * (`error.code`, `last_error.code`) and the events that carry it: UPPER_SNAKE_CASE, each code
 * listed in the README's "Error codes". The codes are collected from the functions' sources,
 * where they are written as literals where they are raised.
 */

const ROOT = join(import.meta.dirname, '../../..');

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => readFileSync(join(entry.parentPath, entry.name), 'utf8'));
}

/**
 * `new XError('CODE'`, `super('CODE'`, `giveUp('CODE'`, `code: 'CODE'`, `? 'CODE' : 'CODE'`, and
 * lower_snake spellings of them. Not `new OutputCopyError('reason'`: its first argument is the
 * attempt's `reason` (its code is OUTPUT_COPY_FAILED).
 */
const RAISED =
  /(?:(?<!OutputCopy)Error|super|giveUp)\(\s*'([A-Z][A-Z0-9_]*|[a-z]+(?:_[a-z0-9]+)+)'|code: '([A-Za-z][A-Za-z0-9_]*)'|\? '([A-Z][A-Z0-9_]+)' : '([A-Z][A-Z0-9_]+)'/g;
/** Reasons a collection is retried for become `last_error.code` upper-cased (lifecycle's `seen.reason.toUpperCase()`). */
const RETRIED = /retryLater\(\s*'([a-z_]+)'/g;

function raisedCodes(): Set<string> {
  const codes = new Set<string>([
    ...JOB_ERROR_CODES,
    ...Object.values(RUNCOMFY_ERROR_CODES),
    // Retryable output copy reasons (outputs/errors.ts), as last_error codes.
    'DOWNLOAD_FAILED',
    'UPLOAD_FAILED',
    // problem.ts: every unexposed failure.
    'INTERNAL_ERROR',
  ]);
  for (const text of [...sources('functions'), ...sources('contract')]) {
    for (const match of text.matchAll(RAISED)) {
      for (const code of match.slice(1)) if (code) codes.add(code);
    }
    for (const match of text.matchAll(RETRIED)) codes.add(match[1]!.toUpperCase());
  }
  return codes;
}

function documentedCodes(): Set<string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Error codes'));
  const table = section.slice(0, section.indexOf('\n#'));
  return new Set([...table.matchAll(/^\| `([A-Za-z0-9_]+)`/gm)].map((match) => match[1]!));
}

describe('Error codes', () => {
  it('finds the codes it should (the scan works)', () => {
    const codes = raisedCodes();
    for (const code of [
      'NOT_CANCELLABLE',
      'IDEMPOTENCY_KEY_REUSED',
      'NO_WEBHOOK_URL',
      'RESULT_UNAVAILABLE',
      'RUN_OVERTIME',
    ]) {
      expect(codes).toContain(code);
    }
  });

  it('are all UPPER_SNAKE_CASE', () => {
    expect([...raisedCodes()].filter((code) => !ERROR_CODE.test(code))).toEqual([]);
  });

  it('are all listed in the README, and the README lists no other', () => {
    const raised = raisedCodes();
    const documented = documentedCodes();
    expect([...raised].filter((code) => !documented.has(code)).sort()).toEqual([]);
    expect([...documented].filter((code) => !raised.has(code)).sort()).toEqual([]);
  });
});
