import type { Deliveries } from './observers.ts';

/** One of our jobs, as the API shows it at the end, with what the soak did to it. */
export interface SoakJob {
  id: string;
  /** The tag in its prompt, which the simulator's books carry too. */
  tag: string;
  status: string;
  /** While active: what the pipeline was doing, and the last trouble (for a stuck job's diagnosis). */
  phase?: string;
  lastError?: string;
  errorCode?: string;
  /** Why a failed job failed, as the API says it (for the diagnosis of an offender). */
  errorMessage?: string;
  requestId?: string;
  createdAt: string;
  finishedAt?: string;
  upstreamFinishedAt?: string;
  outputs: { key: string; sha256: string }[];
  wantsWebhook: boolean;
  cancelledBySoak: boolean;
}

/** A run the simulator created, from its books. */
export interface UpstreamRun {
  requestId: string;
  tag: string;
  state: string;
  answerDropped: boolean;
  outputs: { sha256: string | null }[];
}

export interface Evidence {
  jobs: SoakJob[];
  upstream: UpstreamRun[];
  /** Every object under the outputs prefix, with the SHA-256 of its bytes. */
  objects: { key: string; sha256: string }[];
  deliveries: Deliveries;
  /** Every API answer the soak got, by status. */
  apiStatuses: Record<string, number>;
  /** The first 5xx answers, as `METHOD path → status body`. */
  apiServerErrors: string[];
  dlqMessages: Record<string, number>;
  /** Each message found in a DLQ: its queue, receives, body and what the SQS driver saw happen to it. */
  dlqDetails?: string[];
  /** Ids answered to each set of concurrent submissions with one Idempotency-Key. */
  repeatedSubmissions: string[][];
  webhookBadSignatures: number;
  webhookBadSignatureReasons?: string[];
  /** The most runs the simulator had queued or running at once, and the pipeline's admission bound. */
  upstreamMaxInFlight: number;
  admissionLimit: number;
}

export interface InvariantResult {
  name: string;
  ok: boolean;
  /** What was counted, and the first offenders when it failed. */
  detail: string;
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'expired']);

/** Every invariant the reliability issue names, checked over what the soak collected. */
export function checkInvariants(evidence: Evidence): InvariantResult[] {
  const upstreamById = new Map(evidence.upstream.map((run) => [run.requestId, run]));
  const upstreamByTag = groupBy(evidence.upstream, (run) => run.tag);
  const results: InvariantResult[] = [];
  // `total`: how many offend, when `offenders` lists a summary and examples rather than each one.
  const check = (name: string, offenders: string[], counted: string, total = offenders.length) =>
    results.push({
      name,
      ok: offenders.length === 0,
      detail: offenders.length === 0 ? counted : `${total} offending: ${offenders.slice(0, 5).join('; ')}`,
    });

  check(
    'every job in exactly one terminal state, none stuck',
    evidence.jobs
      .filter((job) => !TERMINAL.has(job.status))
      .map((job) => `${job.id} ${job.status}/${job.phase} ${job.lastError ?? ''}`),
    `${evidence.jobs.length} jobs terminal`,
  );

  const finishedUpstream = evidence.jobs.filter(
    (job) => job.requestId && upstreamById.get(job.requestId)?.state === 'succeeded',
  );
  check(
    '0 upstream-finished runs expired',
    finishedUpstream.filter((job) => job.status === 'expired').map((job) => job.id),
    `${finishedUpstream.length} runs finished upstream, none expired`,
  );
  check(
    'every run RunComfy finished (and billed) collected',
    finishedUpstream
      .filter((job) => job.status !== 'succeeded')
      .map((job) => `${job.id} ${job.status} ${job.errorCode}: ${job.errorMessage ?? ''}`),
    `${finishedUpstream.length} collected`,
  );

  const succeeded = evidence.jobs.filter((job) => job.status === 'succeeded');
  const objectSha = new Map(evidence.objects.map((object) => [object.key, object.sha256]));
  check(
    "succeeded jobs' objects are sha256-equal to the simulator's bytes",
    succeeded.flatMap((job) => {
      const run = job.requestId ? upstreamById.get(job.requestId) : undefined;
      if (!run || run.outputs.length !== job.outputs.length)
        return [`${job.id}: ${job.outputs.length} outputs`];
      return job.outputs.flatMap((output, index) =>
        objectSha.get(output.key) === run.outputs[index]?.sha256 &&
        output.sha256 === objectSha.get(output.key)
          ? []
          : [`${job.id} output ${index}`],
      );
    }),
    `${succeeded.reduce((sum, job) => sum + job.outputs.length, 0)} outputs of ${succeeded.length} jobs`,
  );

  let lostAnswers = 0;
  const submitOffenders: string[] = [];
  for (const job of evidence.jobs) {
    const runs = upstreamByTag.get(job.tag) ?? [];
    const dropped = runs.filter((run) => run.answerDropped).length;
    lostAnswers += dropped;
    if (runs.length > 1 + dropped) submitOffenders.push(`${job.id}: ${runs.length} submits`);
    if (runs.length > 0 && dropped === runs.length && job.errorCode !== 'UPSTREAM_LOST') {
      submitOffenders.push(
        `${job.id}: its submit's answer was lost, yet it ended ${job.status} ${job.errorCode}`,
      );
    }
  }
  check(
    'at most one upstream submit per job (a lost submit answer ends the job UPSTREAM_LOST)',
    submitOffenders,
    `${evidence.upstream.length} submits for ${evidence.jobs.length} jobs; ${lostAnswers} answers lost`,
  );

  for (const channel of ['sns', 'events', 'webhook'] as const) {
    const byJob = groupBy(evidence.deliveries[channel], (delivery) => delivery.jobId);
    const expected = evidence.jobs.filter((job) => channel !== 'webhook' || job.wantsWebhook);
    check(
      `exactly one completion notification per job on ${channel} (by event id)`,
      expected.flatMap((job) => {
        const received = byJob.get(job.id) ?? [];
        const ids = new Set(received.map((delivery) => delivery.eventId));
        if (ids.size !== 1) return [`${job.id}: ${ids.size} event ids`];
        return received[0]?.status === job.status
          ? []
          : [`${job.id}: announced ${received[0]?.status}, is ${job.status}`];
      }),
      `${expected.length} jobs, ${evidence.deliveries[channel].length} deliveries`,
    );
  }

  const serverErrors = Object.entries(evidence.apiStatuses).filter(([status]) => Number(status) >= 500);
  check(
    '0 API 5xx',
    [...serverErrors.map(([status, count]) => `${count} × ${status}`), ...evidence.apiServerErrors],
    `${Object.values(evidence.apiStatuses).reduce((sum, count) => sum + count, 0)} API calls`,
    serverErrors.reduce((sum, [, count]) => sum + count, 0),
  );
  check(
    'DLQs empty',
    Object.entries(evidence.dlqMessages)
      .filter(([, count]) => count > 0)
      .map(([queue, count]) => `${queue}: ${count}`)
      .concat(evidence.dlqDetails ?? []),
    `${Object.keys(evidence.dlqMessages).length} DLQs`,
  );

  const owned = new Set(succeeded.flatMap((job) => job.outputs.map((output) => output.key)));
  check(
    '0 orphaned outputs',
    [
      ...evidence.objects.filter((object) => !owned.has(object.key)).map((object) => `orphan ${object.key}`),
      ...[...owned].filter((key) => !objectSha.has(key)).map((key) => `missing ${key}`),
    ],
    `${evidence.objects.length} objects, all of succeeded jobs`,
  );
  check(
    'one job per Idempotency-Key under concurrent submissions',
    evidence.repeatedSubmissions.filter((ids) => new Set(ids).size !== 1).map((ids) => ids.join(',')),
    `${evidence.repeatedSubmissions.length} keys submitted 3 times at once`,
  );
  check(
    'jobs cancelled while queued end cancelled',
    evidence.jobs
      .filter((job) => job.cancelledBySoak && job.status !== 'cancelled')
      .map((job) => `${job.id} ${job.status}`),
    `${evidence.jobs.filter((job) => job.cancelledBySoak).length} cancels`,
  );
  check(
    'every webhook signature verifies',
    evidence.webhookBadSignatures > 0
      ? [`${evidence.webhookBadSignatures} bad signatures`, ...(evidence.webhookBadSignatureReasons ?? [])]
      : [],
    `${evidence.deliveries.webhook.length} verified deliveries`,
    evidence.webhookBadSignatures,
  );
  // Runs the pipeline no longer counts can hold RunComfy's slots too: a submit whose answer was
  // lost, and a run that never finished after its job gave up on it at the end of the overtime.
  const letGo = evidence.upstream.filter(
    (run) => run.answerDropped || run.state === 'queued' || run.state === 'running',
  ).length;
  check(
    'upstream runs in flight within the admission bound',
    evidence.upstreamMaxInFlight > evidence.admissionLimit + letGo
      ? [`${evidence.upstreamMaxInFlight} at once > ${evidence.admissionLimit} + ${letGo} let go`]
      : [],
    `at most ${evidence.upstreamMaxInFlight} at once (bound ${evidence.admissionLimit}, ${letGo} runs let go)`,
  );
  return results;
}

/** The p-th percentile (0–100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(key(item));
    if (group) group.push(item);
    else groups.set(key(item), [item]);
  }
  return groups;
}
