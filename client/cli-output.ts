import { relative } from 'node:path';
import type { ResolvedApiUrl } from './api-url.ts';
import { EXIT, shellQuote, TOKEN_ENV, UsageError } from './cli-options.ts';
import {
  FluxEditApiError,
  FluxEditConfigError,
  FluxEditError,
  FluxEditNetworkError,
  InputFileError,
} from './errors.ts';
import { describeProgress, type ProgressStream } from './progress.ts';
import type { JobView } from './types.ts';

/* What the CLI prints: a job, why it ended, an error with its exit status, sizes and paths. */

/** One line: what ended the job and, when the pipeline says, its error code and message. */
export function describeFailure(job: JobView): string {
  const verb =
    { failed: 'failed', cancelled: 'was cancelled', expired: 'expired' }[job.status as string] ?? job.status;
  const reason = job.error ? `: ${job.error.code}: ${job.error.message}` : '';
  return `job ${job.id} ${verb}${reason}`;
}

export function describeJob(job: JobView): string {
  const rows: [string, string | undefined][] = [
    ['job', job.id],
    ['status', describeProgress(job)],
    ['prompt', job.input.prompt],
    ['images', job.input.image_urls.join(' ')],
    ['created', job.created_at],
    ['started', job.started_at],
    ['finished', job.finished_at],
    ['error', job.error ? `${job.error.code}: ${job.error.message}` : undefined],
    ...(job.outputs ?? []).map((output): [string, string] => [
      `output ${output.index}`,
      output.url ?? output.s3_uri,
    ]),
  ];
  return rows
    .filter((row): row is [string, string] => row[1] !== undefined)
    .map(([name, value]) => `${name.padEnd(9)} ${value}\n`)
    .join('');
}

export function reportError(
  io: { stdout: ProgressStream; stderr: ProgressStream },
  json: boolean,
  error: unknown,
  api: ResolvedApiUrl | undefined,
): number {
  const lines: string[] = [];
  let status: number = EXIT.failed;
  if (error instanceof UsageError) {
    lines.push(`error: ${error.message}`, 'run flux-edit --help for usage');
    status = EXIT.usage;
  } else if (error instanceof FluxEditConfigError || error instanceof InputFileError) {
    lines.push(`error: ${error.message}`);
    status = EXIT.usage;
  } else if (error instanceof FluxEditApiError) {
    lines.push(`error: ${error.message} [${error.code}, HTTP ${error.status}]`);
    for (const field of error.errors) {
      lines.push(
        `  ${field.line === undefined ? '' : `line ${field.line}: `}${field.path}: ${field.message}`,
      );
    }
    if (error.status === 401) {
      lines.push(`  the API wants a valid bearer token: pass --token <jwt> or set ${TOKEN_ENV}`);
    }
    status = EXIT.api;
  } else if (error instanceof FluxEditNetworkError) {
    const hint =
      api?.source === 'stack-file'
        ? ` (from ${api.file}: is the local runtime running? start it with npm start)`
        : '';
    lines.push(`error: ${error.message}${hint}`);
    status = EXIT.api;
  } else if (error instanceof FluxEditError) {
    lines.push(`error: ${error.message} [${error.code}]`);
    status = EXIT.api;
  } else {
    lines.push(`error: ${error instanceof Error ? error.message : String(error)}`);
  }
  io.stderr.write(`${lines.join('\n')}\n`);
  if (json) io.stdout.write(`${JSON.stringify({ error: errorJson(error) }, null, 2)}\n`);
  return status;
}

function errorJson(error: unknown): Record<string, unknown> {
  if (error instanceof FluxEditApiError) {
    return { code: error.code, status: error.status, detail: error.detail, errors: error.errors };
  }
  if (error instanceof FluxEditError) return { code: error.code, message: error.message };
  return { code: 'UNEXPECTED', message: error instanceof Error ? error.message : String(error) };
}

export const apiUrlFlag = (api: ResolvedApiUrl) =>
  api.source === 'flag' ? ` --api-url ${shellQuote(api.url)}` : '';

export function displayPath(cwd: string, file: string): string {
  const shown = relative(cwd, file);
  return shown.startsWith('..') || shown === '' ? file : shown;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
