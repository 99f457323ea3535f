import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { createBatchProgress, tallyOf } from './batch-progress.ts';
import type { Context } from './cli-context.ts';
import { EXIT, secondsOption, shellQuote, UsageError } from './cli-options.ts';
import { BatchWaitTimeoutError } from './errors.ts';
import { formatElapsed } from './progress.ts';
import type { BatchView } from './types.ts';

export const BATCH_USAGE = 'usage: flux-edit batch submit <file.jsonl> | get <id> | wait <id> | cancel <id>';

/**
 * `flux-edit batch …`: `submit <file.jsonl>` uploads a manifest (one edit request per line),
 * submits it and follows it with a live progress bar (done / failed / running / queued, ETA)
 * until it completes; `get <id>` shows a batch; `wait <id>` follows one; `cancel <id>` cancels
 * its jobs that have not started. Exit 0 when every line succeeded; 1 when the batch was refused
 * or some line did not succeed.
 */
export async function batchCommand(context: Context, subcommand: string, argument: string): Promise<number> {
  switch (subcommand) {
    case 'submit':
      return submit(context, argument);
    case 'get': {
      const batch = await context.client.batches.get(argument);
      context.io.stdout.write(context.json ? `${JSON.stringify(batch, null, 2)}\n` : describeBatch(batch));
      return EXIT.ok;
    }
    case 'wait':
      return follow(context, argument);
    case 'cancel': {
      const batch = await context.client.batches.cancel(argument);
      context.io.stdout.write(
        context.json
          ? `${JSON.stringify(batch, null, 2)}\n`
          : `batch ${batch.id}: cancel requested; jobs that have not started are being cancelled\n`,
      );
      return EXIT.ok;
    }
    default:
      throw new UsageError(`unknown batch command: ${subcommand}; ${BATCH_USAGE}`);
  }
}

async function submit(context: Context, file: string): Promise<number> {
  const { io, values, client } = context;
  // One key per run: the client's retries of this submit can never make a second batch.
  const idempotencyKey = values['idempotency-key'] ?? randomUUID();
  const batch = await client.batches.submitFile(resolve(io.cwd, file), {
    idempotencyKey,
    ...(values['skip-invalid'] ? { onInvalid: 'skip' as const } : {}),
  });
  io.stderr.write(`submitted batch ${batch.id}\n`);
  if (values['no-wait']) {
    io.stdout.write(context.json ? `${JSON.stringify(batch, null, 2)}\n` : `${batch.id}\n`);
    if (!context.json) io.stderr.write(`follow it with: flux-edit batch wait ${batch.id}\n`);
    return EXIT.ok;
  }
  return follow(context, batch.id);
}

/** Waits with a live progress bar, then reports how the batch ended. */
async function follow(context: Context, id: string): Promise<number> {
  const { io, client, values } = context;
  const timeoutMs =
    values.timeout === undefined ? undefined : secondsOption('--timeout', values.timeout) * 1000;
  const interrupted = new AbortController();
  const removeInterruptHandler = io.onInterrupt(() => interrupted.abort());
  const progress = createBatchProgress({ stream: io.stderr, label: `batch ${id}` });
  const startedAt = Date.now();
  let batch: BatchView;
  try {
    batch = await client.batches.waitFor(id, {
      onProgress: (latest) => progress.update(latest),
      pollIntervalMs: io.pollIntervalMs ?? 2_000,
      timeoutMs,
      signal: interrupted.signal,
    });
  } catch (error) {
    progress.stop();
    if (interrupted.signal.aborted) {
      io.stderr.write(
        `\nstopped waiting; batch ${id} carries on. Resume with: flux-edit batch wait ${shellQuote(id)}\n`,
      );
      return EXIT.interrupted;
    }
    if (error instanceof BatchWaitTimeoutError) {
      io.stderr.write(
        `error: ${error.message}; it carries on. Resume with: flux-edit batch wait ${shellQuote(id)}\n`,
      );
      return EXIT.timeout;
    }
    throw error;
  } finally {
    progress.stop();
    removeInterruptHandler();
  }

  if (context.json) io.stdout.write(`${JSON.stringify(batch, null, 2)}\n`);
  if (batch.status === 'refused') {
    io.stderr.write(`error: batch ${batch.id} was refused: ${batch.error?.code}: ${batch.error?.message}\n`);
    for (const issue of batch.errors ?? [])
      io.stderr.write(`  line ${issue.line}: ${issue.path}: ${issue.message}\n`);
    if (batch.invalid_lines_url) io.stderr.write(`every bad line: ${batch.invalid_lines_url}\n`);
    return EXIT.failed;
  }
  const tally = tallyOf(batch);
  if (!context.json) io.stdout.write(`${batch.results?.url ?? batch.results?.s3_uri ?? ''}\n`);
  io.stderr.write(
    `batch ${batch.id} completed in ${formatElapsed(Date.now() - startedAt)}: ${tally.done} succeeded, ${tally.failed} did not` +
      `${batch.invalid_lines ? `, ${batch.invalid_lines} invalid lines skipped` : ''}; cost $${batch.cost.toFixed(4)}\n`,
  );
  return tally.failed === 0 && !batch.invalid_lines ? EXIT.ok : EXIT.failed;
}

/** A batch as a few aligned lines. */
export function describeBatch(batch: BatchView): string {
  const { counts } = batch;
  const rows: [string, string | undefined][] = [
    ['batch', batch.id],
    ['status', batch.status],
    ['source', batch.manifest ?? batch.source],
    ['lines', batch.lines === undefined ? undefined : `${batch.lines} (${batch.invalid_lines ?? 0} invalid)`],
    [
      'jobs',
      `${counts.succeeded} succeeded · ${counts.failed} failed · ${counts.cancelled} cancelled · ${counts.expired} expired · ${counts.running} running · ${counts.queued} queued · ${counts.pending} not made yet`,
    ],
    ['cost', `$${batch.cost.toFixed(4)}`],
    ['created', batch.created_at],
    ['cancelled', batch.cancel_requested_at],
    ['completed', batch.completed_at],
    ['error', batch.error ? `${batch.error.code}: ${batch.error.message}` : undefined],
    ...(batch.errors ?? []).map((issue): [string, string] => [
      `line ${issue.line}`,
      `${issue.path}: ${issue.message}`,
    ]),
    ['results', batch.results?.url ?? batch.results?.s3_uri],
  ];
  return rows
    .filter((row): row is [string, string] => row[1] !== undefined)
    .map(([name, value]) => `${name.padEnd(10)} ${value}\n`)
    .join('');
}
