import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { FluxEditConfigError } from './errors.ts';

export const API_URL_ENV = 'FLUX_EDIT_API_URL';
/** Written by the local runtime (`npm start`) while it runs. */
export const STACK_FILE = join('.local', 'stack.json');

export interface ResolvedApiUrl {
  url: string;
  /** Where the URL came from, for error messages ("is the local runtime running?"). */
  source: 'flag' | 'env' | 'stack-file';
  /** The stack file read, when `source` is `stack-file`. */
  file?: string;
}

/** This repository's root: the local runtime writes its stack file here. */
const REPO_ROOT = resolve(import.meta.dirname, '..');

/**
 * Finds the API: `--api-url`, else `FLUX_EDIT_API_URL`, else the `apiUrl` of a running local
 * runtime's `.local/stack.json` (in the working directory or a parent, then this repository).
 *
 * @example
 * resolveApiUrl({ flag: undefined, env: process.env, cwd: process.cwd() });
 * // { url: 'http://127.0.0.1:3000', source: 'stack-file', file: '/repo/.local/stack.json' }
 */
export function resolveApiUrl(input: {
  flag: string | undefined;
  env: Record<string, string | undefined>;
  cwd: string;
  /** @default this repository's root */
  repoRoot?: string;
}): ResolvedApiUrl {
  if (input.flag) return { url: input.flag, source: 'flag' };
  const fromEnv = input.env[API_URL_ENV];
  if (fromEnv) return { url: fromEnv, source: 'env' };
  const file = findStackFile(input.cwd, input.repoRoot ?? REPO_ROOT);
  if (file) return { url: readStackFile(file), source: 'stack-file', file };
  throw new FluxEditConfigError(
    'API_URL_MISSING',
    `no API URL: pass --api-url <url>, set ${API_URL_ENV}, or start the local runtime (npm start), which writes ${STACK_FILE}`,
  );
}

function findStackFile(cwd: string, repoRoot: string): string | undefined {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const candidate = join(dir, STACK_FILE);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) break;
  }
  const inRepo = join(repoRoot, STACK_FILE);
  return existsSync(inRepo) ? inRepo : undefined;
}

function readStackFile(file: string): string {
  let stack: unknown;
  try {
    stack = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new FluxEditConfigError('STACK_FILE_INVALID', `${file} is not readable JSON: ${String(error)}`, {
      cause: error,
    });
  }
  const apiUrl = (stack as { apiUrl?: unknown } | null)?.apiUrl;
  if (typeof apiUrl !== 'string' || apiUrl.length === 0) {
    throw new FluxEditConfigError('STACK_FILE_INVALID', `${file} has no "apiUrl"`);
  }
  return apiUrl;
}
