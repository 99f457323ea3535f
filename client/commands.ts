import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { IMAGE_SIZES, OUTPUT_FORMATS } from '#core/edit-input';
import { API_URL_ENV, resolveApiUrl } from './api-url.ts';
import { BATCH_USAGE, batchCommand } from './batch-commands.ts';
import { type CliIo, type Context, OPTIONS, type OptionName, processIo, type Values } from './cli-context.ts';
import {
  EXIT,
  integerOption,
  numberOption,
  secondsOption,
  shellQuote,
  TOKEN_ENV,
  UsageError,
} from './cli-options.ts';
import {
  apiUrlFlag,
  describeFailure,
  describeJob,
  displayPath,
  formatBytes,
  reportError,
} from './cli-output.ts';
import { WaitTimeoutError } from './errors.ts';
import { FluxEditClient } from './index.ts';
import { listCommand } from './list-command.ts';
import { createProgressReporter, describeProgress, formatElapsed } from './progress.ts';
import type { EditRequest, JobView } from './types.ts';

export { type CliIo, type Context, processIo, type Values } from './cli-context.ts';
export { EXIT, TOKEN_ENV };

const COMMON: OptionName[] = ['api-url', 'token', 'json', 'help'];
const COMMANDS = {
  edit: {
    summary: 'upload local images, submit an edit, wait for it and download the outputs',
    options: [
      'prompt',
      'image',
      'size',
      'format',
      'seed',
      'guidance',
      'out',
      'no-wait',
      'idempotency-key',
      'timeout',
    ] as OptionName[],
    positionals: 0,
  },
  status: { summary: 'show a job', options: [] as OptionName[], positionals: 1 },
  cancel: { summary: 'cancel a job that has not started', options: [] as OptionName[], positionals: 1 },
  wait: {
    summary: 'wait for a job to end, then download its outputs (with --out)',
    options: ['out', 'timeout'] as OptionName[],
    positionals: 1,
  },
  list: {
    summary: 'list your jobs, newest first, as a table (or --json)',
    options: ['status', 'since', 'until', 'batch', 'reference', 'limit', 'sort'] as OptionName[],
    positionals: 0,
  },
  batch: {
    summary: 'submit a JSONL batch and follow it live; get, wait for or cancel a batch',
    options: ['skip-invalid', 'no-wait', 'idempotency-key', 'timeout'] as OptionName[],
    positionals: 2,
  },
} as const;
type CommandName = keyof typeof COMMANDS;

export const USAGE = `Usage: flux-edit <command> [options]

Commands:
  edit --prompt <text> --image <file|url> [--image …] [options]
                          ${COMMANDS.edit.summary}
  status <id>             ${COMMANDS.status.summary}
  cancel <id>             ${COMMANDS.cancel.summary}
  wait <id> [--out <dir>] ${COMMANDS.wait.summary}
  list [--status <s>] [--since 24h] [--batch <id>] [--limit n]
                          ${COMMANDS.list.summary}
  batch submit <file.jsonl> [--skip-invalid] [--no-wait]
                          upload a manifest (one edit request per line), submit it and
                          show its progress (done / failed / running / queued, ETA)
  batch get <id>          show a batch: its status, counts, cost and results manifest
  batch wait <id>         follow a batch until it completes
  batch cancel <id>       cancel a batch's jobs that have not started

Options of edit:
  --prompt <text>         what to change (required)
  --image <file|url>      1–4 input images: a local PNG/JPEG/WebP file (uploaded first),
                          or an https:// or s3:// URL (passed through)
  --size <preset>         ${IMAGE_SIZES.join(', ')} (default square_hd)
  --format <format>       ${OUTPUT_FORMATS.join(', ')} (default png)
  --seed <integer>        fixes the randomness, for repeatable results
  --guidance <number>     guidance scale, 0–20 (default 2.5)
  --out <dir>             where outputs are saved as <job id>-<index>.<ext> (default .)
  --no-wait               print the job id and return without waiting
  --idempotency-key <key> repeat a command with the same key to get the same job back
                          instead of a second one (default: a random key per run)

Options of list:
  --status <status>       queued, running, succeeded, failed, cancelled, expired (repeat,
                          or separate with commas)
  --since <age|time>      created at most this long ago (30m, 24h, 7d) or since an ISO time
  --until <age|time>      created before this
  --batch <id>            the jobs of one batch; --reference <ref> one caller_reference
  --limit <n>             jobs listed at most (default 50); --sort asc for oldest first

Options of batch submit:
  --skip-invalid          leave bad lines out (reported) instead of refusing the batch

Common options:
  --api-url <url>         the API (default: $${API_URL_ENV}, else the apiUrl in
                          .local/stack.json of a running local runtime)
  --token <jwt>           a bearer token, for an API behind a JWT authorizer (default:
                          $${TOKEN_ENV}; locally: npm run -s token -- --sub <you>)
  --timeout <seconds>     stop waiting after this long (edit, wait, batch); it carries on
  --json                  print JSON on stdout: the job, or {"job", "files"} after a wait
  -h, --help              show this help

While waiting, Ctrl-C stops waiting but not the job: resume with flux-edit wait <id>.

Exit status: 0 done; 1 the job failed, was cancelled or expired (a batch: was refused,
or a line did not succeed); 2 bad usage or configuration; 3 the API or storage refused
or was unreachable; 124 --timeout passed; 130 interrupted.
`;

/**
 * Runs one `flux-edit` command and returns its exit status. Never throws: every failure
 * becomes a message on stderr (and `{"error"}` on stdout with --json) and an exit status.
 *
 * @example
 * process.exitCode = await runCli(process.argv.slice(2), processIo());
 */
export async function runCli(argv: string[], io: CliIo = processIo()): Promise<number> {
  let context: Context | undefined;
  let json = false;
  try {
    const { command, values, positionals } = parseCommandLine(argv);
    json = values.json === true;
    if (!command) {
      io.stdout.write(USAGE);
      return EXIT.ok;
    }
    const api = resolveApiUrl({ flag: values['api-url'], env: io.env, cwd: io.cwd, repoRoot: io.repoRoot });
    // The environment is the better place: a flag shows in the process list.
    const token = values.token || io.env[TOKEN_ENV] || undefined;
    const client = new FluxEditClient({ apiUrl: api.url, fetch: io.fetch, ...(token ? { token } : {}) });
    context = { io, values, json, api, client };
    switch (command) {
      case 'edit':
        return await editCommand(context);
      case 'status':
        return await statusCommand(context, positionals[0]!);
      case 'cancel':
        return await cancelCommand(context, positionals[0]!);
      case 'wait':
        return await waitCommand(context, positionals[0]!);
      case 'list':
        return await listCommand(context);
      case 'batch':
        return await batchCommand(context, positionals[0]!, positionals[1]!);
    }
  } catch (error) {
    return reportError(io, json, error, context?.api);
  }
}

function parseCommandLine(argv: string[]): { command?: CommandName; values: Values; positionals: string[] } {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const [name, ...positionals] = parsed.positionals;
  if (parsed.values.help || name === undefined || name === 'help')
    return { values: parsed.values, positionals };
  if (!(name in COMMANDS)) throw new UsageError(`unknown command: ${name}`);
  const command = name as CommandName;
  const spec = COMMANDS[command];
  const allowed = new Set<string>([...COMMON, ...spec.options]);
  const stray = Object.keys(parsed.values).find((option) => !allowed.has(option));
  if (stray) throw new UsageError(`--${stray} is not an option of ${command}`);
  if (positionals.length !== spec.positionals) {
    throw new UsageError(
      command === 'batch'
        ? BATCH_USAGE
        : spec.positionals === 0
          ? `${command} takes no arguments`
          : `usage: flux-edit ${command} <job id>`,
    );
  }
  return { command, values: parsed.values, positionals };
}

async function editCommand(context: Context): Promise<number> {
  const { io, values, client } = context;
  const input = editRequestOf(values);
  const images = values.image ?? [];

  const imageUrls = await Promise.all(
    images.map(async (image) => {
      if (/^(https?|s3):\/\//i.test(image)) return image;
      const uploaded = await client.uploadFile(resolve(io.cwd, image));
      io.stderr.write(`uploaded ${image} (${formatBytes(uploaded.sizeBytes)})\n`);
      return uploaded.s3Uri;
    }),
  );
  // One key per run: the client's retries of this submit can never start a second, paid job.
  const idempotencyKey = values['idempotency-key'] ?? randomUUID();
  const job = await client.submit({ ...input, image_urls: imageUrls }, { idempotencyKey });
  io.stderr.write(`submitted job ${job.id}\n`);

  if (values['no-wait']) {
    io.stdout.write(context.json ? `${JSON.stringify(job, null, 2)}\n` : `${job.id}\n`);
    if (!context.json)
      io.stderr.write(`follow it with: flux-edit wait ${job.id} --out ${shellQuote(outDirOf(values))}\n`);
    return EXIT.ok;
  }
  return waitAndDownload(context, job.id, outDirOf(values));
}

function editRequestOf(values: Values): Omit<EditRequest, 'image_urls'> {
  if (!values.prompt) throw new UsageError('--prompt is required');
  const images = values.image ?? [];
  if (images.length === 0) throw new UsageError('give at least one --image (a file or an https:// URL)');
  // Checked here too so that no file is uploaded for a request that cannot be accepted.
  if (images.length > 4) throw new UsageError('give at most 4 --image');
  return {
    prompt: values.prompt,
    ...(values.size === undefined ? {} : { image_size: values.size as EditRequest['image_size'] }),
    ...(values.format === undefined ? {} : { output_format: values.format as EditRequest['output_format'] }),
    ...(values.seed === undefined ? {} : { seed: integerOption('--seed', values.seed) }),
    ...(values.guidance === undefined ? {} : { guidance_scale: numberOption('--guidance', values.guidance) }),
  };
}

async function statusCommand(context: Context, id: string): Promise<number> {
  const job = await context.client.get(id);
  context.io.stdout.write(context.json ? `${JSON.stringify(job, null, 2)}\n` : describeJob(job));
  return EXIT.ok;
}

async function cancelCommand(context: Context, id: string): Promise<number> {
  const job = await context.client.cancel(id);
  context.io.stdout.write(
    context.json ? `${JSON.stringify(job, null, 2)}\n` : `job ${job.id} is ${job.status}\n`,
  );
  return EXIT.ok;
}

function waitCommand(context: Context, id: string): Promise<number> {
  return waitAndDownload(context, id, context.values.out);
}

/** Waits with live progress, then downloads (when `outDir` is set) or lists the output URLs. */
async function waitAndDownload(context: Context, id: string, outDir: string | undefined): Promise<number> {
  const { io, client, values } = context;
  const timeoutMs =
    values.timeout === undefined ? undefined : secondsOption('--timeout', values.timeout) * 1000;
  const interrupted = new AbortController();
  const removeInterruptHandler = io.onInterrupt(() => interrupted.abort());
  const progress = createProgressReporter({ stream: io.stderr, label: `job ${id}` });
  const startedAt = Date.now();
  let job: JobView;
  let files: string[] = [];
  try {
    job = await client.waitFor(id, {
      onProgress: (latest) => progress.update(latest),
      pollIntervalMs: io.pollIntervalMs,
      timeoutMs,
      signal: interrupted.signal,
    });
    progress.stop();
    if (job.status === 'succeeded' && outDir !== undefined) {
      files = await client.download(job, resolve(io.cwd, outDir), { signal: interrupted.signal });
    }
  } catch (error) {
    progress.stop();
    const resume = `flux-edit wait ${id}${outDir === undefined ? '' : ` --out ${shellQuote(outDir)}`}${apiUrlFlag(context.api)}`;
    if (interrupted.signal.aborted) {
      io.stderr.write(`\nstopped waiting; job ${id} carries on. Resume with: ${resume}\n`);
      return EXIT.interrupted;
    }
    if (error instanceof WaitTimeoutError) {
      const state = error.job ? ` (still ${describeProgress(error.job)})` : '';
      io.stderr.write(`error: ${error.message}${state}; it carries on. Resume with: ${resume}\n`);
      return EXIT.timeout;
    }
    throw error;
  } finally {
    removeInterruptHandler();
  }

  if (context.json) io.stdout.write(`${JSON.stringify({ job, files }, null, 2)}\n`);
  if (job.status !== 'succeeded') {
    io.stderr.write(`error: ${describeFailure(job)}\n`);
    return EXIT.failed;
  }
  const elapsed = formatElapsed(Date.now() - startedAt);
  if (!context.json) {
    if (outDir === undefined) {
      for (const output of job.outputs ?? []) io.stdout.write(`${output.url ?? output.s3_uri}\n`);
    } else {
      for (const file of files) io.stdout.write(`${displayPath(io.cwd, file)}\n`);
    }
  }
  const saved = outDir === undefined ? '' : `; ${files.length} output(s) saved in ${outDir}`;
  io.stderr.write(`job ${job.id} succeeded (waited ${elapsed})${saved}\n`);
  return EXIT.ok;
}

const outDirOf = (values: Values) => values.out ?? '.';
