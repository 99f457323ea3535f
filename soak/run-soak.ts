import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DEFAULTS } from '../contract/config.ts';
import { ITEM_PREFIX, TABLE } from '../contract/table.ts';
import type { Log } from '../functions/core/log.ts';
import { type LocalPipeline, startLocalPipeline } from '../local/pipeline.ts';
import {
  checkInvariants,
  type Evidence,
  type InvariantResult,
  percentile,
  type SoakJob,
  type UpstreamRun,
} from './invariants.ts';
import { ChannelObserver, WebhookReceiver } from './observers.ts';
import {
  pipelineChaos,
  SCRIPTED_FAULTS,
  SOAK_SETTINGS,
  type SoakOptions,
  SoakOptionsSchema,
  seeded,
  simulatorKnobs,
  soakActions,
} from './plan.ts';

/** What a soak found: the invariants, the faults it met, and how fast the pipeline went. */
export interface SoakReport {
  options: SoakOptions;
  startedAt: string;
  durationSeconds: number;
  ok: boolean;
  invariants: InvariantResult[];
  /** Faults met, by kind: the simulator's, the runtime's (SQS, crashes) and the soak's own. */
  faults: Record<string, number>;
  /** Fault kinds the short soak must meet that it did not (short runs only). */
  missingFaultKinds: string[];
  outcomes: Record<string, number>;
  throughput: { jobsPerSecond: number; latencyP50Seconds: number; latencyP95Seconds: number };
  machine: { cpus: number; loadAverage: number[] };
}

/** Every kind the short soak must meet at least once (issue: "every fault kind at least once"). */
export const FAULT_KINDS = [
  'upstream_429',
  'upstream_submit_5xx',
  'upstream_status_or_result_5xx',
  'upstream_cancel_5xx',
  'upstream_slow',
  'upstream_submit_answer_lost',
  'upstream_download_reset',
  'upstream_file_not_ready',
  'upstream_run_failed',
  'upstream_run_never_finishes',
  'upstream_run_past_deadline',
  'sqs_duplicate_delivery',
  'sqs_message_not_deleted',
  'sqs_visibility_expired',
  'crash_after_write',
  'webhook_receiver_500',
  'concurrent_idempotent_submits',
  'cancel_while_queued',
] as const;

const INPUT_IMAGE = 'https://inputs.example.com/cup.png';
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'expired']);
const TAG = /\((soak-\d+-\d+)\)/;

interface JobView {
  id: string;
  status: string;
  phase?: string;
  last_error?: { code: string; message: string };
  error?: { code?: string };
  upstream_request_id?: string;
  created_at: string;
  finished_at?: string;
  upstream_finished_at?: string;
  outputs?: { key: string; sha256: string }[];
}

/**
 * A fault soak of the whole local pipeline (moto + the simulator + the real handlers): `jobs`
 * edits at a steady `rate` with every fault knob on, then the invariants of the reliability issue
 * checked from the emulator's state and the simulator's books.
 */
export async function runSoak(
  input: Partial<SoakOptions> = {},
  progress: (line: string) => void = () => {},
): Promise<SoakReport> {
  const options = SoakOptionsSchema.parse(input);
  const random = seeded(options.seed);
  const actions = soakActions(options);
  const runtimeFaults: Record<string, number> = {};
  const startedAt = new Date();
  const pipeline = await startLocalPipeline({
    stackName: 'soak',
    retryDelaySeconds: 1,
    waitTimeSeconds: 1,
    sweepIntervalSeconds: 5,
    env: SOAK_SETTINGS,
    simulator: { knobs: simulatorKnobs(options) },
    chaos: { ...pipelineChaos(options), random: seeded(options.seed + 1), injected: runtimeFaults },
    extraEnv: {
      POWERTOOLS_LOG_LEVEL: process.env.SOAK_LOG_LEVEL ?? 'CRITICAL',
      POWERTOOLS_METRICS_DISABLED: 'true',
    },
    log: quietLog,
  });
  const api = new ApiRecorder(pipeline.apiUrl);
  const observer = new ChannelObserver(pipeline);
  const receiver = new WebhookReceiver(
    pipeline.webhookSigningSecret,
    actions.webhookReceiverFails,
    seeded(options.seed + 2),
  );
  await receiver.start();
  try {
    const submitted: Submitted[] = [];
    const work: Promise<void>[] = [];
    const began = Date.now();
    for (let index = 0; index < options.jobs; index++) {
      const due = began + (index * 1000) / options.rate;
      if (due > Date.now()) await sleep(due - Date.now());
      const plan: Plan = {
        tag: `soak-${options.seed}-${index}`,
        script: options.short ? SCRIPTED_FAULTS[index] : undefined,
        hold: random() < actions.cancelWhileQueued,
        webhook: random() < actions.webhook,
        repeat: random() < actions.repeatSubmission,
      };
      work.push(submit(api, plan, receiver.url).then((done) => void submitted.push(done)));
      if (index % 50 === 49) progress(`submitted ${index + 1}/${options.jobs}`);
    }
    await Promise.all(work);
    progress(
      `all ${options.jobs} submitted in ${Math.round((Date.now() - began) / 1000)} s; waiting for them to end`,
    );

    const views = await settle(api, submitted, options.settleSeconds * 1000, progress);
    await pipeline.drain({ timeoutMs: 60_000 }).catch(() => undefined);
    await sleep(2_000); // webhook retries and the last events
    await observer.stop();

    const evidence = await collectEvidence(pipeline, api, submitted, views, observer, receiver);
    await recordStuckJobs(pipeline, evidence.jobs);
    const invariants = checkInvariants(evidence);
    const faults = await faultsMet(pipeline, runtimeFaults, submitted, receiver, evidence.upstream);
    const missingFaultKinds = options.short ? FAULT_KINDS.filter((kind) => !faults[kind]) : [];
    const ended = evidence.jobs.filter((job) => job.finishedAt);
    const latencies = evidence.jobs
      .filter((job) => job.status === 'succeeded' && job.finishedAt)
      .map((job) => (Date.parse(job.finishedAt!) - Date.parse(job.createdAt)) / 1000);
    const first = Math.min(...evidence.jobs.map((job) => Date.parse(job.createdAt)));
    const last = Math.max(...ended.map((job) => Date.parse(job.finishedAt!)));
    return {
      options,
      startedAt: startedAt.toISOString(),
      durationSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
      ok: invariants.every((result) => result.ok) && missingFaultKinds.length === 0,
      invariants,
      faults,
      missingFaultKinds,
      outcomes: countBy(
        evidence.jobs.map((job) => (job.errorCode ? `${job.status} ${job.errorCode}` : job.status)),
      ),
      throughput: {
        jobsPerSecond: round(evidence.jobs.length / ((last - first) / 1000), 2),
        latencyP50Seconds: round(percentile(latencies, 50), 2),
        latencyP95Seconds: round(percentile(latencies, 95), 2),
      },
      machine: { cpus: cpus().length, loadAverage: loadavg().map((load) => round(load, 2)) },
    };
  } finally {
    await receiver.stop();
    await pipeline.stop();
  }
}

interface Plan {
  tag: string;
  script: string | undefined;
  hold: boolean;
  webhook: boolean;
  repeat: boolean;
}

interface Submitted {
  plan: Plan;
  id: string | undefined;
  /** Ids answered to the concurrent repeats of the submission (repeat plans only). */
  repeatIds: string[];
  cancelled: boolean;
}

/** Submits one job as its plan says (repeated at once with one key, cancelled while held). */
async function submit(api: ApiRecorder, plan: Plan, webhookUrl: string): Promise<Submitted> {
  const prompt = [`Make the cup red (${plan.tag})`, plan.script, plan.hold ? '__HOLD__' : undefined]
    .filter(Boolean)
    .join(' ');
  const body = { prompt, image_urls: [INPUT_IMAGE], ...(plan.webhook ? { webhook_url: webhookUrl } : {}) };
  const post = () => api.call('POST', '/edits', body, { 'idempotency-key': plan.tag });
  const answers = await Promise.all(plan.repeat ? [post(), post(), post()] : [post()]);
  const ids = answers
    .map((answer) => (answer.body as { id?: string } | undefined)?.id)
    .filter((id) => id !== undefined);
  const done: Submitted = { plan, id: ids[0], repeatIds: plan.repeat ? ids : [], cancelled: false };
  if (done.id && plan.hold) done.cancelled = await cancelWhenQueued(api, done.id);
  return done;
}

/** Cancels a held job once RunComfy has it queued (or while it still waits for admission). */
async function cancelWhenQueued(api: ApiRecorder, id: string): Promise<boolean> {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    const job = (await api.call('GET', `/edits/${id}`)).body as JobView | undefined;
    if (job && !job.upstream_request_id && job.status === 'queued') {
      await sleep(300);
      continue;
    }
    const answer = await api.call('POST', `/edits/${id}/cancel`);
    if (answer.status === 200 || answer.status === 202) return true;
    await sleep(500); // 409: being submitted right now
  }
  return false;
}

/** Polls every job until it ends or `timeoutMs` passes; returns the last view of each. */
async function settle(
  api: ApiRecorder,
  submitted: readonly Submitted[],
  timeoutMs: number,
  progress: (line: string) => void,
): Promise<Map<string, JobView>> {
  const views = new Map<string, JobView>();
  const until = Date.now() + timeoutMs;
  let open = submitted.flatMap((job) => (job.id ? [job.id] : []));
  while (open.length > 0 && Date.now() < until) {
    const next: string[] = [];
    for (let i = 0; i < open.length; i += 16) {
      await Promise.all(
        open.slice(i, i + 16).map(async (id) => {
          const view = (await api.call('GET', `/edits/${id}`)).body as JobView | undefined;
          if (view?.id) views.set(id, view);
          if (!view || !TERMINAL.has(view.status)) next.push(id);
        }),
      );
    }
    if (next.length > 0 && next.length !== open.length) progress(`${next.length} jobs still active`);
    open = next;
    if (open.length > 0) await sleep(2_000);
  }
  return views;
}

async function collectEvidence(
  pipeline: LocalPipeline,
  api: ApiRecorder,
  submitted: readonly Submitted[],
  views: ReadonlyMap<string, JobView>,
  observer: ChannelObserver,
  receiver: WebhookReceiver,
): Promise<Evidence> {
  const jobs: SoakJob[] = submitted.flatMap(({ plan, id, cancelled }) => {
    const view = id ? views.get(id) : undefined;
    if (!id || !view) return [];
    return [
      {
        id,
        tag: plan.tag,
        status: view.status,
        phase: view.phase,
        lastError: view.last_error ? `${view.last_error.code}: ${view.last_error.message}` : undefined,
        errorCode: view.error?.code,
        requestId: view.upstream_request_id,
        createdAt: view.created_at,
        finishedAt: view.finished_at,
        upstreamFinishedAt: view.upstream_finished_at,
        outputs: (view.outputs ?? []).map((output) => ({ key: output.key, sha256: output.sha256 })),
        wantsWebhook: plan.webhook,
        cancelledBySoak: cancelled,
      },
    ];
  });
  const sim = pipeline.simulator!.admin;
  const upstream: UpstreamRun[] = [];
  for (const run of sim.jobs()) {
    const tag = TAG.exec(run.input.prompt)?.[1];
    if (!tag) continue;
    const outputs = run.state === 'succeeded' ? await sim.outputs(run.request_id) : [];
    upstream.push({
      requestId: run.request_id,
      tag,
      state: run.state,
      answerDropped: run.submit_answer_dropped,
      outputs: outputs.map((output) => ({ sha256: output.sha256 })),
    });
  }
  return {
    jobs,
    upstream,
    objects: await outputObjects(pipeline),
    deliveries: { ...observer.deliveries, webhook: receiver.deliveries },
    apiStatuses: api.statuses,
    dlqMessages: await dlqDepths(pipeline),
    repeatedSubmissions: submitted.filter((job) => job.plan.repeat).map((job) => job.repeatIds),
    webhookBadSignatures: receiver.badSignatures,
  };
}

/** Writes the records of jobs that did not end (and their upstream runs) for diagnosis. */
async function recordStuckJobs(pipeline: LocalPipeline, jobs: readonly SoakJob[]): Promise<void> {
  const stuck = jobs.filter((job) => !TERMINAL.has(job.status));
  if (stuck.length === 0) return;
  const records = [];
  for (const job of stuck) {
    const { Item } = await pipeline.clients.dynamo.send(
      new GetCommand({
        TableName: pipeline.table,
        Key: { [TABLE.partitionKey]: `${ITEM_PREFIX.job}${job.id}` },
      }),
    );
    records.push({
      job: Item,
      upstream: job.requestId ? pipeline.simulator?.admin.job(job.requestId) : undefined,
    });
  }
  mkdirSync(STUCK_FILE_DIR, { recursive: true });
  writeFileSync(STUCK_FILE, JSON.stringify(records, null, 2));
  console.error(`the records of ${stuck.length} jobs that did not end are in ${STUCK_FILE}`);
}

const STUCK_FILE_DIR = resolve(import.meta.dirname, '..', '.local');
const STUCK_FILE = resolve(STUCK_FILE_DIR, 'soak-stuck-jobs.json');

/** Every object under the outputs prefix with the SHA-256 of its bytes. */
async function outputObjects(pipeline: LocalPipeline): Promise<{ key: string; sha256: string }[]> {
  const objects: { key: string; sha256: string }[] = [];
  let token: string | undefined;
  do {
    const page = await pipeline.clients.s3.send(
      new ListObjectsV2Command({
        Bucket: pipeline.bucket,
        Prefix: DEFAULTS.outputPrefix,
        ContinuationToken: token,
      }),
    );
    for (const { Key } of page.Contents ?? []) {
      if (!Key) continue;
      const object = await pipeline.clients.s3.send(new GetObjectCommand({ Bucket: pipeline.bucket, Key }));
      const bytes = await object.Body!.transformToByteArray();
      objects.push({ key: Key, sha256: createHash('sha256').update(bytes).digest('hex') });
    }
    token = page.NextContinuationToken;
  } while (token);
  return objects;
}

async function dlqDepths(pipeline: LocalPipeline): Promise<Record<string, number>> {
  const depths: Record<string, number> = {};
  for (const [name, url] of Object.entries(pipeline.queues)) {
    if (!name.endsWith('Dlq')) continue;
    const { Attributes = {} } = await pipeline.clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    depths[name] =
      Number(Attributes.ApproximateNumberOfMessages ?? 0) +
      Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0);
  }
  return depths;
}

/** The faults met, in the kinds of {@link FAULT_KINDS} (plus the raw counters, prefixed). */
async function faultsMet(
  pipeline: LocalPipeline,
  runtime: Record<string, number>,
  submitted: readonly Submitted[],
  receiver: WebhookReceiver,
  upstream: readonly UpstreamRun[],
): Promise<Record<string, number>> {
  const sim = pipeline.simulator!.admin;
  const injected = sim.stats().injected as Record<string, number>;
  const runs = sim.jobs().filter((run) => TAG.test(run.input.prompt));
  const of = (...kinds: string[]) => kinds.reduce((sum, kind) => sum + (injected[kind] ?? 0), 0);
  const faults: Record<string, number> = {
    upstream_429: of('rate_limited', 'rate_limit'),
    upstream_submit_5xx: of('submit_5xx'),
    upstream_status_or_result_5xx: of('status_5xx', 'result_5xx'),
    upstream_cancel_5xx: of('cancel_5xx'),
    upstream_slow: of('slow'),
    upstream_submit_answer_lost: upstream.filter((run) => run.answerDropped).length,
    upstream_download_reset: of('file_reset'),
    upstream_file_not_ready: of('file_not_ready'),
    upstream_run_failed: upstream.filter((run) => run.state === 'failed').length,
    // Knob draws may or may not show in a job's script: whichever count is larger.
    upstream_run_never_finishes: Math.max(runs.filter((run) => run.script.stall).length, of('job_stall')),
    upstream_run_past_deadline: Math.max(
      runs.filter((run) => (run.script.run_s ?? 0) > SOAK_SETTINGS.jobDeadlineSeconds).length,
      of('job_long_run'),
    ),
    sqs_duplicate_delivery: runtime.duplicate ?? 0,
    sqs_message_not_deleted: runtime.skipDelete ?? 0,
    sqs_visibility_expired: runtime.expireVisibility ?? 0,
    crash_after_write: runtime.crashAfterWrite ?? 0,
    webhook_receiver_500: receiver.refused,
    concurrent_idempotent_submits: submitted.filter((job) => job.plan.repeat).length,
    cancel_while_queued: submitted.filter((job) => job.cancelled).length,
  };
  for (const [kind, count] of Object.entries(injected)) faults[`simulator.${kind}`] = count;
  return faults;
}

/** The soak's own HTTP calls to the API, every answer's status counted. */
class ApiRecorder {
  readonly statuses: Record<string, number> = {};
  constructor(private readonly baseUrl: string) {}

  async call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: unknown }> {
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await fetch(`${this.baseUrl}${path}`, {
          method,
          headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
          body: body ? JSON.stringify(body) : undefined,
        });
        const text = await response.text();
        this.statuses[response.status] = (this.statuses[response.status] ?? 0) + 1;
        // A 5xx is counted (an invariant fails on it), then retried as a client would.
        if (response.status >= 500 && attempt < 5) {
          await sleep(500 * attempt);
          continue;
        }
        return { status: response.status, body: text ? JSON.parse(text) : undefined };
      } catch (error) {
        if (attempt >= 5) throw error;
        await sleep(500 * attempt);
      }
    }
  }
}

/** The functions' crashes and retries are the soak's doing: only the runtime's own failures are shown. */
const quietLog: Log = {
  debug() {},
  info() {},
  warn() {},
  error: (message, ...extra) => {
    if (!String(extra.map((item) => JSON.stringify(item))).includes('chaos'))
      console.error(`[local] ${message}`, ...extra);
  },
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;
function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
