import type { parseArgs } from 'node:util';
import type { ResolvedApiUrl } from './api-url.ts';
import type { FluxEditClient } from './index.ts';
import type { ProgressStream } from './progress.ts';

/* What every CLI command runs with: its I/O, its parsed options, the API and a client for it. */

/** Everything the CLI touches outside itself, so tests can run it in-process. */
export interface CliIo {
  stdout: ProgressStream;
  stderr: ProgressStream;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Installs a Ctrl-C handler while waiting; returns its remover. */
  onInterrupt(handler: () => void): () => void;
  fetch?: typeof fetch;
  /** @default 1000 */
  pollIntervalMs?: number;
  /** Where to look for `.local/stack.json` after the working directory. @default this repository */
  repoRoot?: string;
}

export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    onInterrupt(handler) {
      process.once('SIGINT', handler);
      return () => process.off('SIGINT', handler);
    },
  };
}

/** Every option of every command; each command takes its own subset (COMMANDS in commands.ts). */
export const OPTIONS = {
  'api-url': { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  prompt: { type: 'string' },
  image: { type: 'string', multiple: true },
  size: { type: 'string' },
  format: { type: 'string' },
  seed: { type: 'string' },
  guidance: { type: 'string' },
  out: { type: 'string' },
  'no-wait': { type: 'boolean' },
  'idempotency-key': { type: 'string' },
  timeout: { type: 'string' },
  status: { type: 'string', multiple: true },
  since: { type: 'string' },
  until: { type: 'string' },
  batch: { type: 'string' },
  reference: { type: 'string' },
  limit: { type: 'string' },
  sort: { type: 'string' },
  'skip-invalid': { type: 'boolean' },
} as const;

export type OptionName = keyof typeof OPTIONS;
export type Values = ReturnType<
  typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>
>['values'];

/** What every command runs with. */
export interface Context {
  io: CliIo;
  values: Values;
  json: boolean;
  api: ResolvedApiUrl;
  client: FluxEditClient;
}
