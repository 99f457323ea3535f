import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DEFAULTS } from '../contract/config.ts';
import { ITEM_PREFIX, TABLE } from '../contract/table.ts';
import type { LocalPipeline } from '../local/pipeline.ts';
import type { ApiRecorder } from './api-recorder.ts';
import type { Evidence, SoakJob, UpstreamRun } from './invariants.ts';
import type { ChannelObserver, WebhookReceiver } from './observers.ts';
import { SOAK_SETTINGS } from './plan.ts';

/** What the soak reads back from the API, the emulator and the simulator once the jobs ended. */

export const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'expired']);
/** The tag each soak prompt carries, which the simulator's books keep too. */
export const TAG = /\((soak-\d+-\d+)\)/;

/** A job as the API shows it (the fields the soak reads). */
export interface JobView {
  id: string;
  status: string;
  phase?: string;
  last_error?: { code: string; message: string };
  error?: {
    code?: string;
    message?: string;
    attempts?: { reason: string; httpStatus?: number; at: string }[];
  };
  upstream_request_id?: string;
  created_at: string;
  finished_at?: string;
  upstream_finished_at?: string;
  outputs?: { key: string; sha256: string }[];
}

/** What the soak does to one job. */
export interface Plan {
  tag: string;
  script: string | undefined;
  hold: boolean;
  webhook: boolean;
  repeat: boolean;
}

export interface Submitted {
  plan: Plan;
  id: string | undefined;
  /** Ids answered to the concurrent repeats of the submission (repeat plans only). */
  repeatIds: string[];
  cancelled: boolean;
}

export async function collectEvidence(
  pipeline: LocalPipeline,
  api: ApiRecorder,
  submitted: readonly Submitted[],
  views: ReadonlyMap<string, JobView>,
  observer: ChannelObserver,
  receiver: WebhookReceiver,
  deliveryTrace?: ReadonlyMap<string, string[]>,
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
        errorMessage: view.error?.message
          ? `${view.error.message}${(view.error.attempts ?? []).map((a) => ` [${a.at} ${a.reason} ${a.httpStatus ?? ''}]`).join('')}`
          : undefined,
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
    apiServerErrors: api.serverErrors,
    dlqMessages: await dlqDepths(pipeline),
    dlqDetails: await dlqDetails(pipeline, deliveryTrace),
    repeatedSubmissions: submitted.filter((job) => job.plan.repeat).map((job) => job.repeatIds),
    webhookBadSignatures: receiver.badSignatures,
    webhookBadSignatureReasons: receiver.badSignatureReasons,
    upstreamMaxInFlight: Math.max(
      0,
      ...Object.values(sim.stats().concurrency).map((books) => books.max_in_flight),
    ),
    admissionLimit: SOAK_SETTINGS.upstreamConcurrency,
  };
}

/** Whether an object under the outputs prefix is a batch's own file (its lines, results), not a job's output. */
export const isBatchFile = (key: string, outputPrefix = 'edits/'): boolean =>
  key.startsWith(`${outputPrefix}batches/`);

/** The job's raw record in the table, as the functions wrote it. */
export async function readJobRecord(
  pipeline: LocalPipeline,
  id: string,
): Promise<Record<string, unknown> | undefined> {
  const { Item } = await pipeline.clients.dynamo.send(
    new GetCommand({ TableName: pipeline.table, Key: { [TABLE.partitionKey]: `${ITEM_PREFIX.job}${id}` } }),
  );
  return Item;
}

/** Writes the records of jobs that did not end or were not announced (and their runs), for diagnosis. */
export async function recordTroubledJobs(pipeline: LocalPipeline, stuck: readonly SoakJob[]): Promise<void> {
  if (stuck.length === 0) return;
  const records = [];
  for (const job of stuck) {
    records.push({
      job: await readJobRecord(pipeline, job.id),
      upstream: job.requestId ? pipeline.simulator?.admin.job(job.requestId) : undefined,
    });
  }
  mkdirSync(STUCK_FILE_DIR, { recursive: true });
  writeFileSync(STUCK_FILE, JSON.stringify(records, null, 2));
  console.error(
    `the records of ${stuck.length} jobs that did not end or were not announced are in ${STUCK_FILE}`,
  );
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
      if (!Key || isBatchFile(Key, DEFAULTS.outputPrefix)) continue;
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

/**
 * Each message in a DLQ, read once (it stays hidden for the rest of the soak): its queue, how often
 * it was received, its body, and the SQS driver's trace of it (receives, faults, verdicts, deletes).
 */
async function dlqDetails(
  pipeline: LocalPipeline,
  trace: ReadonlyMap<string, string[]> | undefined,
): Promise<string[]> {
  const details: string[] = [];
  for (const [name, url] of Object.entries(pipeline.queues)) {
    if (!name.endsWith('Dlq')) continue;
    for (;;) {
      const { Messages = [] } = await pipeline.clients.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 600,
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        }),
      );
      if (Messages.length === 0) break;
      for (const message of Messages) {
        const history = trace?.get(message.MessageId ?? '')?.join(' → ') ?? 'no trace';
        details.push(`${name} ${message.MessageId} ${message.Body?.slice(0, 160)}: ${history}`);
      }
    }
  }
  return details;
}

/** The faults met, in the kinds of {@link FAULT_KINDS} (plus the raw counters, prefixed). */
export async function faultsMet(
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
