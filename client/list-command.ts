import type { Context } from './cli-context.ts';
import { EXIT, integerOption, sinceOption, UsageError } from './cli-options.ts';
import type { JobStatus, JobView, ListEditsQuery } from './types.ts';

const STATUSES: readonly JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'];

/** Jobs listed unless `--limit` says otherwise. */
export const DEFAULT_LIST_LIMIT = 50;

/**
 * `flux-edit list`: the caller's jobs, newest first, filtered (`--status failed --since 24h`), as
 * a table or (`--json`) a JSON array. Follows the API's pages until `--limit` jobs are listed.
 */
export async function listCommand(context: Context): Promise<number> {
  const { values, client, io } = context;
  const limit = values.limit === undefined ? DEFAULT_LIST_LIMIT : integerOption('--limit', values.limit);
  if (limit < 1) throw new UsageError('--limit must be at least 1');
  const jobs: JobView[] = [];
  for await (const job of client.list(listQueryOf(values, Math.min(limit, 1_000)))) {
    jobs.push(job);
    if (jobs.length >= limit) break;
  }
  if (context.json) {
    io.stdout.write(`${JSON.stringify(jobs, null, 2)}\n`);
    return EXIT.ok;
  }
  if (jobs.length === 0) {
    io.stderr.write('no jobs\n');
    return EXIT.ok;
  }
  io.stdout.write(formatJobTable(jobs));
  return EXIT.ok;
}

function listQueryOf(values: Context['values'], pageSize: number): ListEditsQuery {
  const statuses = (values.status ?? []).flatMap((value) => value.split(',').map((item) => item.trim()));
  const unknown = statuses.find((status) => !STATUSES.includes(status as JobStatus));
  if (unknown !== undefined)
    throw new UsageError(`--status ${unknown} is not one of: ${STATUSES.join(', ')}`);
  if (values.sort !== undefined && values.sort !== 'asc' && values.sort !== 'desc') {
    throw new UsageError('--sort must be asc or desc');
  }
  return {
    ...(statuses.length > 0 ? { status: statuses as JobStatus[] } : {}),
    ...(values.since === undefined ? {} : { createdAfter: sinceOption('--since', values.since) }),
    ...(values.until === undefined ? {} : { createdBefore: sinceOption('--until', values.until) }),
    ...(values.batch === undefined ? {} : { batchId: values.batch }),
    ...(values.reference === undefined ? {} : { callerReference: values.reference }),
    ...(values.sort === undefined ? {} : { sort: values.sort as 'asc' | 'desc' }),
    pageSize,
  };
}

/** Jobs as a plain-text table: id, status, when, cost, reference, and the error or the prompt. */
export function formatJobTable(jobs: readonly JobView[]): string {
  const rows = jobs.map((job) => [
    job.id,
    job.status,
    job.created_at.replace('T', ' ').slice(0, 19),
    job.cost === undefined ? '-' : `$${job.cost.toFixed(4)}`,
    job.caller_reference ?? (job.batch_id ? `${job.batch_id.slice(0, 8)}:${job.batch_line}` : '-'),
    job.error ? `${job.error.code}: ${job.error.message}` : (job.input.prompt ?? ''),
  ]);
  const header = ['ID', 'STATUS', 'CREATED (UTC)', 'COST', 'REFERENCE', 'DETAIL'];
  const widths = header.map((title, column) =>
    column === header.length - 1
      ? 0
      : Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) =>
        column === cells.length - 1 ? truncate(cell, 60) : cell.padEnd(widths[column] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return `${[header, ...rows].map(line).join('\n')}\n`;
}

function truncate(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}
