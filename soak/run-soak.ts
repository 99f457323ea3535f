import { cpus, loadavg } from 'node:os';
import type { Log } from '../functions/core/log.ts';
import { startLocalPipeline } from '../local/pipeline.ts';
import { ApiRecorder } from './api-recorder.ts';
import {
  asSubmitted,
  BATCH_COMPLETION_RECOVERY_MS,
  BatchCompletions,
  batchJobs,
  checkBatchPhase,
  settleBatch,
  submitBatchOfEdits,
} from './batch-phase.ts';
import {
  collectEvidence,
  faultsMet,
  type JobView,
  type Plan,
  readJobRecord,
  recordTroubledJobs,
  type Submitted,
  TERMINAL,
} from './evidence.ts';
import { checkInvariants, type InvariantResult, percentile } from './invariants.ts';
import { ChannelObserver, WebhookReceiver } from './observers.ts';
import {
  pipelineChaos,
  SCRIPTED_FAULTS,
  SOAK_SETTINGS,
  type SoakOptions,
  SoakOptionsSchema,
  seeded,
  simulatorKnobs,
  sleep,
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
  // What happened to each SQS message: read back for the messages that end in a DLQ.
  const deliveryTrace = new Map<string, string[]>();
  const startedAt = new Date();
  const pipeline = await startLocalPipeline({
    stackName: 'soak',
    retryDelaySeconds: 1,
    waitTimeSeconds: 1,
    sweepIntervalSeconds: 5,
    env: SOAK_SETTINGS,
    simulator: { knobs: simulatorKnobs(options) },
    chaos: {
      ...pipelineChaos(options),
      delivery: { ...pipelineChaos(options).delivery, trace: deliveryTrace },
      random: seeded(options.seed + 1),
      injected: runtimeFaults,
    },
    extraEnv: {
      POWERTOOLS_LOG_LEVEL: process.env.SOAK_LOG_LEVEL ?? 'CRITICAL',
      POWERTOOLS_METRICS_DISABLED: 'true',
    },
    log: quietLog,
  });
  const api = new ApiRecorder(pipeline.apiUrl);
  const batchCompletions = new BatchCompletions();
  const observer = new ChannelObserver(pipeline, (channel, event) =>
    batchCompletions.observe(channel, event),
  );
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
    const batchSubmitted =
      options.batchEdits > 0
        ? submitBatchOfEdits(api, {
            edits: options.batchEdits,
            seed: options.seed,
            firstIndex: options.jobs,
            inputImage: INPUT_IMAGE,
          })
        : undefined;
    for (let index = 0; index < options.jobs; index++) {
      const due = began + (index * 1000) / options.rate;
      if (due > Date.now()) await sleep(due - Date.now());
      // The short soak plays each scripted fault on two jobs, then holds and cancels the next two,
      // whatever the draws: a crash the chaos plays on one of them before it reaches RunComfy (a
      // lost submission) cannot leave a fault kind unmet.
      const scripts = SCRIPTED_FAULTS.length;
      const plan: Plan = {
        tag: `soak-${options.seed}-${index}`,
        script: options.short && index < 2 * scripts ? SCRIPTED_FAULTS[index % scripts] : undefined,
        hold:
          random() < actions.cancelWhileQueued ||
          (options.short && (index === 2 * scripts || index === 2 * scripts + 1)),
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

    // A job is settled once it ended and its completion was announced: a crash right after the
    // terminal write leaves the announcement to the sweeper, after the notification lease.
    const isAnnounced = (id: string) =>
      readJobRecord(pipeline, id).then(
        (record) => Boolean(record?.notifiedAt),
        () => false, // the emulator was slow to answer: ask again on the next round
      );
    const views = await settle(api, submitted, options.settleSeconds * 1000, progress, isAnnounced);
    // The batch completes once every job of it ended and was announced (each is counted as its
    // notification goes out); its jobs are then jobs like the others for every per-job invariant.
    const batch = await batchSubmitted;
    const batchView = batch
      ? await settleBatch(api, batch, options.settleSeconds * 1000 + BATCH_COMPLETION_RECOVERY_MS, progress)
      : undefined;
    const batchJobViews = batch ? await batchJobs(api, batch.id) : [];
    submitted.push(...asSubmitted(batchJobViews));
    for (const job of batchJobViews) views.set(job.id, job);
    await pipeline.drain({ timeoutMs: 60_000 }).catch(() => undefined);
    await sleep(2_000); // webhook retries and the last events
    await observer.stop();

    const evidence = await collectEvidence(
      pipeline,
      api,
      submitted,
      views,
      observer,
      receiver,
      deliveryTrace,
    );
    const announced = new Set(evidence.deliveries.sns.map((delivery) => delivery.jobId));
    await recordTroubledJobs(
      pipeline,
      evidence.jobs.filter((job) => !TERMINAL.has(job.status) || !announced.has(job.id)),
    );
    const invariants = [
      ...checkInvariants(evidence),
      ...(batch ? await checkBatchPhase(batch, batchView, batchJobViews, batchCompletions) : []),
    ];
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
  const until = Date.now() + 120_000;
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

/**
 * Polls every job until it ends and is announced, or until `timeoutMs` pass in which no job
 * settles (a slow machine is given time; a stuck job is not waited for forever). Returns the
 * last view of each.
 */
async function settle(
  api: ApiRecorder,
  submitted: readonly Submitted[],
  timeoutMs: number,
  progress: (line: string) => void,
  announced: (id: string) => Promise<boolean>,
): Promise<Map<string, JobView>> {
  const views = new Map<string, JobView>();
  let until = Date.now() + timeoutMs;
  let open = submitted.flatMap((job) => (job.id ? [job.id] : []));
  while (open.length > 0 && Date.now() < until) {
    const next: string[] = [];
    for (let i = 0; i < open.length; i += 16) {
      await Promise.all(
        open.slice(i, i + 16).map(async (id) => {
          const view = (await api.call('GET', `/edits/${id}`)).body as JobView | undefined;
          if (view?.id) views.set(id, view);
          if (!view || !TERMINAL.has(view.status) || !(await announced(id))) next.push(id);
        }),
      );
    }
    if (next.length !== open.length) {
      until = Date.now() + timeoutMs;
      if (next.length > 0) progress(`${next.length} jobs not yet ended and announced`);
    }
    open = next;
    if (open.length > 0) await sleep(2_000);
  }
  return views;
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

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;
function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
