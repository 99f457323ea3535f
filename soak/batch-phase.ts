import { leaseMs } from '../contract/budgets.ts';
import type { ApiRecorder } from './api-recorder.ts';
import type { JobView, Plan, Submitted } from './evidence.ts';
import type { InvariantResult } from './invariants.ts';

/**
 * The soak's batch phase: one batch of N edits submitted through the HTTP API (inline up to
 * 1,000 lines, else as an uploaded JSONL manifest), followed until it completes, then checked:
 * one job per line, every job ended, the batch's counts and cost equal to its jobs', its results
 * manifest line for line, and exactly one `Edit Batch Completed` per channel (by event id).
 *
 * Nothing here touches the runtime's internals: only the API, the presigned results link and the
 * completion events the soak's observer receives (see `BatchCompletions`).
 */

/** What the phase needs of the soak's API caller. */
export type BatchApi = Pick<ApiRecorder, 'call'>;

export interface BatchPhaseOptions {
  /** Lines (edits) in the batch: 1–50,000. */
  edits: number;
  seed: number;
  /**
   * The first line's tag number: lines are tagged `soak-<seed>-<firstIndex + i>` (the soak's
   * `TAG`), after the soak's own jobs, so the simulator's books tell their runs apart.
   */
  firstIndex: number;
  inputImage: string;
  /** A simulator script (e.g. `__FAIL__`) for some lines, by line number (1-based). */
  scripts?: Readonly<Record<number, string>>;
  /** @default 'inline' up to 1,000 edits, else 'manifest' */
  via?: 'inline' | 'manifest';
}

export interface SubmittedBatch {
  id: string;
  edits: number;
  via: 'inline' | 'manifest';
}

/** A batch as `GET /batches/{id}` shows it (the fields the phase reads). */
export interface BatchView {
  id: string;
  status: string;
  jobs_created: number;
  counts: Record<string, number>;
  cost: number;
  error?: { code: string; message: string };
  results?: { s3_uri: string; url?: string };
}

/** A job of the batch, as `GET /edits?batch_id=` lists it. */
export type BatchJobView = JobView & { batch_line?: number; cost?: number; input?: { prompt?: string } };

/** Submits the batch; throws when the API does not accept it (202). */
export async function submitBatchOfEdits(api: BatchApi, options: BatchPhaseOptions): Promise<SubmittedBatch> {
  const requests = Array.from({ length: options.edits }, (_, index) => ({
    prompt: [
      `Make the cup red (soak-${options.seed}-${options.firstIndex + index})`,
      options.scripts?.[index + 1],
    ]
      .filter(Boolean)
      .join(' '),
    image_urls: [options.inputImage],
    caller_reference: `soak-batch-line-${index + 1}`,
  }));
  const via = options.via ?? (options.edits <= 1_000 ? 'inline' : 'manifest');
  const body =
    via === 'inline'
      ? { requests }
      : { manifest: await uploadManifest(api, requests.map((line) => JSON.stringify(line)).join('\n')) };
  // The key makes the API caller's own retries of a 5xx replay the first batch, never a second.
  const answer = await api.call('POST', '/batches', body, {
    'idempotency-key': `soak-${options.seed}-batch-${options.firstIndex}`,
  });
  const id = (answer.body as { id?: string } | undefined)?.id;
  if (answer.status !== 202 || !id) {
    throw new Error(`POST /batches answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 500)}`);
  }
  return { id, edits: options.edits, via };
}

async function uploadManifest(api: BatchApi, text: string): Promise<string> {
  const bytes = Buffer.from(`${text}\n`);
  const ticket = await api.call('POST', '/uploads', {
    content_type: 'application/x-ndjson',
    size_bytes: bytes.length,
    filename: 'soak-batch.jsonl',
  });
  const { upload_url, headers, s3_uri } = (ticket.body ?? {}) as {
    upload_url?: string;
    headers?: Record<string, string>;
    s3_uri?: string;
  };
  if (ticket.status !== 201 || !upload_url || !s3_uri)
    throw new Error(`POST /uploads answered ${ticket.status}`);
  const put = await fetch(upload_url, { method: 'PUT', headers, body: bytes });
  if (!put.ok) throw new Error(`the manifest upload answered ${put.status}`);
  return s3_uri;
}

/**
 * What a batch may need past its last job's end: a completion whose holder crashed (the soak's
 * crash faults) is taken over only when its lease runs out (the batch function's timeout + 30 s),
 * then the sweeper queues it again. Give `settleBatch` this on top of the jobs' settle time.
 */
export const BATCH_COMPLETION_RECOVERY_MS = leaseMs('batch') + 60_000;

/** Polls the batch until it is completed or refused, or `timeoutMs` passes; its last view. */
export async function settleBatch(
  api: BatchApi,
  batch: SubmittedBatch,
  timeoutMs: number,
  progress: (line: string) => void = () => {},
): Promise<BatchView | undefined> {
  const until = Date.now() + timeoutMs;
  let last: BatchView | undefined;
  let shown = '';
  for (;;) {
    const answer = await api.call('GET', `/batches/${batch.id}`);
    if (answer.status === 200) last = answer.body as BatchView;
    if (last && ['completed', 'refused'].includes(last.status)) return last;
    if (Date.now() > until) return last;
    const line = last ? `batch ${batch.id}: ${last.status} ${JSON.stringify(last.counts)}` : '';
    if (line && line !== shown) {
      shown = line;
      progress(line);
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
}

/** Every job of the batch, through `GET /edits?batch_id=` page by page. */
export async function batchJobs(api: BatchApi, batchId: string): Promise<BatchJobView[]> {
  const jobs: BatchJobView[] = [];
  let token: string | undefined;
  do {
    const query = new URLSearchParams({ batch_id: batchId, limit: '1000', sort: 'asc' });
    if (token) query.set('next_token', token);
    const answer = await api.call('GET', `/edits?${query}`);
    if (answer.status !== 200) throw new Error(`GET /edits?batch_id= answered ${answer.status}`);
    const page = answer.body as { items: BatchJobView[]; next_token?: string };
    jobs.push(...page.items);
    token = page.next_token;
  } while (token);
  return jobs;
}

/**
 * The batch's jobs as the soak's own submissions (and their views), so that every per-job
 * invariant — one notification per job, at most one upstream submit, outputs owned — covers them.
 */
export function asSubmitted(jobs: readonly BatchJobView[]): Submitted[] {
  return jobs.map((job) => {
    const plan: Plan = {
      tag: /\((soak-\d+-\d+)\)/.exec(job.input?.prompt ?? '')?.[1] ?? `batch-line-${job.batch_line}`,
      script: undefined,
      hold: false,
      webhook: false,
      repeat: false,
    };
    return { plan, id: job.id, repeatIds: [], cancelled: false };
  });
}

/** A batch's completion as a channel delivered it. */
export interface BatchDelivery {
  batchId: string;
  eventId: string;
  lines: number;
  counts: Record<string, number>;
  cost: number;
}

/**
 * Batch completions as received, duplicates included. The soak's `ChannelObserver` consumes the
 * observer queues and keeps job completions only: it hands each message's event here too
 * (`observe`), the SNS message parsed or the EventBridge `detail`.
 */
export class BatchCompletions {
  readonly sns: BatchDelivery[] = [];
  readonly events: BatchDelivery[] = [];

  observe(channel: 'sns' | 'events', event: unknown): void {
    const detail = event as Partial<BatchDelivery & { type: string; batch_id: string; event_id: string }>;
    if (detail?.type !== 'edit.batch.completed' || !detail.batch_id || !detail.event_id) return;
    this[channel].push({
      batchId: detail.batch_id,
      eventId: detail.event_id,
      lines: Number(detail.lines),
      counts: detail.counts ?? {},
      cost: Number(detail.cost),
    });
  }
}

const TERMINAL = ['succeeded', 'failed', 'cancelled', 'expired'] as const;
/** Costs are summed in USD; the batch rounds its sum (to 1e-6). */
const sameCost = (a: number, b: number) => Math.abs(a - b) < 1e-5;

/** A results manifest's row (the fields checked). */
interface ResultRow {
  line: number;
  job_id?: string;
  status: string;
}

/**
 * The phase's invariants, over the batch's last view, its jobs (`batchJobs`, listed after it
 * completed) and the completions received: each with the first offenders when it fails.
 */
export async function checkBatchPhase(
  batch: SubmittedBatch,
  view: BatchView | undefined,
  jobs: readonly BatchJobView[],
  completions: Pick<BatchCompletions, 'sns' | 'events'>,
): Promise<InvariantResult[]> {
  const results: InvariantResult[] = [];
  const check = (name: string, offenders: string[], detail: string) =>
    results.push({
      name,
      ok: offenders.length === 0,
      detail: offenders.length ? `${detail}; ${offenders.slice(0, 10).join('; ')}` : detail,
    });
  const tally: Record<string, number> = { succeeded: 0, failed: 0, cancelled: 0, expired: 0 };
  let cost = 0;
  for (const job of jobs) {
    if (job.status in tally) tally[job.status] = (tally[job.status] ?? 0) + 1;
    cost += job.cost ?? 0;
  }

  check(
    'the batch completed',
    view?.status === 'completed'
      ? []
      : [`${batch.id} is ${view?.status ?? 'unreadable'} ${view?.error?.code ?? ''}`],
    `${batch.edits} lines, via ${batch.via}`,
  );
  const perLine = new Map<number, number>();
  for (const job of jobs) perLine.set(job.batch_line ?? 0, (perLine.get(job.batch_line ?? 0) ?? 0) + 1);
  const badLines: string[] = [];
  for (let line = 1; line <= batch.edits; line++)
    if (perLine.get(line) !== 1) badLines.push(`line ${line}: ${perLine.get(line) ?? 0} jobs`);
  check(
    'one job per line of the batch',
    [
      ...(jobs.length === batch.edits ? [] : [`${jobs.length} jobs for ${batch.edits} lines`]),
      ...(view && view.jobs_created !== batch.edits ? [`jobs_created ${view.jobs_created}`] : []),
      ...badLines,
    ],
    `${jobs.length} jobs`,
  );
  check(
    'every job of the batch ended',
    jobs
      .filter((job) => !(TERMINAL as readonly string[]).includes(job.status))
      .map((job) => `${job.id} ${job.status}`),
    JSON.stringify(tally),
  );
  check(
    'the batch’s counts and cost equal its jobs’',
    view
      ? [
          ...TERMINAL.filter((status) => (view.counts[status] ?? 0) !== tally[status]).map(
            (status) => `${status}: batch ${view.counts[status]}, jobs ${tally[status]}`,
          ),
          ...['pending', 'queued', 'running']
            .filter((status) => (view.counts[status] ?? 0) !== 0)
            .map((status) => `${status}: ${view.counts[status]}`),
          ...(sameCost(view.cost, cost) ? [] : [`cost: batch ${view.cost}, jobs ${cost}`]),
        ]
      : ['no view of the batch'],
    `cost ${cost.toFixed(4)} USD`,
  );
  for (const channel of ['sns', 'events'] as const) {
    const received = completions[channel].filter((delivery) => delivery.batchId === batch.id);
    const ids = new Set(received.map((delivery) => delivery.eventId));
    const first = received[0];
    check(
      `exactly one batch completion on ${channel} (by event id)`,
      [
        ...(ids.size === 1 ? [] : [`${ids.size} event ids`]),
        ...(first && first.eventId !== `${batch.id}:completed` ? [`event id ${first.eventId}`] : []),
        ...(first && first.lines !== batch.edits ? [`announced ${first.lines} lines`] : []),
        ...(first
          ? TERMINAL.filter((status) => (first.counts[status] ?? 0) !== tally[status]).map(
              (status) => `announced ${status} ${first.counts[status]}, jobs ${tally[status]}`,
            )
          : []),
        ...(first && !sameCost(first.cost, cost) ? [`announced cost ${first.cost}`] : []),
      ],
      `${received.length} deliveries`,
    );
  }
  check(
    'the results manifest has each line once, as its job ended',
    await resultOffenders(view, jobs),
    'results.jsonl',
  );
  return results;
}

async function resultOffenders(
  view: BatchView | undefined,
  jobs: readonly BatchJobView[],
): Promise<string[]> {
  if (!view?.results?.url) return ['no results link'];
  const response = await fetch(view.results.url);
  if (!response.ok) return [`results link answered ${response.status}`];
  const rows = (await response.text())
    .split('\n')
    .filter(Boolean)
    .map((text) => JSON.parse(text) as ResultRow);
  const byLine = new Map(jobs.map((job) => [job.batch_line, job]));
  const offenders = rows.length === jobs.length ? [] : [`${rows.length} rows for ${jobs.length} jobs`];
  rows.forEach((row, index) => {
    const job = byLine.get(row.line);
    if (index > 0 && row.line <= (rows[index - 1]?.line ?? 0))
      offenders.push(`line ${row.line} out of order`);
    if (!job || job.id !== row.job_id || job.status !== row.status) {
      offenders.push(`line ${row.line}: ${row.job_id} ${row.status}, job ${job?.id} ${job?.status}`);
    }
  });
  return offenders;
}
