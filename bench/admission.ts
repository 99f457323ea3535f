import { MemoryAdmissionStore } from '#adapters/memory/memory-admission';
import { MemoryJobStore } from '#adapters/memory/memory-job-store';
import { MemoryNotifier } from '#adapters/memory/memory-notifier';
import { MemoryOutputStore } from '#adapters/memory/memory-output-store';
import { RUNCOMFY_TIMING } from '#contract/budgets';
import { loadConfig } from '#contract/config';
import type { Clock } from '#core/clock';
import { dispatchAdmissions } from '#core/jobs/admission';
import { type CollectDeps, collectResult } from '#core/jobs/collect-result';
import type { Job } from '#core/jobs/job';
import type { JobWrite } from '#core/jobs/lifecycle';
import type { PollQueueMessage, ResultMessage } from '#core/jobs/messages';
import { pollJob } from '#core/jobs/poll-job';
import { submitEdit } from '#core/jobs/submit-edit';
import { silentLog } from '#core/log';
import type { CreateResult, IdempotencyClaim, JobQueues } from '#core/ports';
import { noMetrics } from '#core/ports';
import { RunComfyClient } from '#core/runcomfy/index';
import { startSimulator } from '../simulator/index.ts';
import { type GoalFigure, goal } from './lib/goals.ts';
import { logNormalFromPercentiles, SeededRandom } from './lib/random.ts';
import { round, spread } from './lib/stats.ts';
import { REFERENCE_LATENCY } from './poll.ts';

/*
 * Admission burst (issue 10): `jobs` edits submitted at once against the RunComfy simulator with
 * an account concurrency limit (`max_in_flight`, answering 429 beyond it), through the job core's
 * real submit, admission, poll and result code, and the real RunComfy client over HTTP. Time is
 * virtual: one clock drives the simulator and the pipeline, and SQS is a timeline of messages
 * (each delivered `delaySeconds` + `HOP_MS` after it was sent, one at a time), so 10,000 jobs of
 * the model's run times (hours of work at 20 in flight) take minutes. The AWS adapters are the
 * in-memory ones, with DynamoDB's conditional semantics (the line is indexed here, as the
 * waiting index is in DynamoDB). What it does not model: Lambda and DynamoDB latency (HOP_MS
 * stands for each message's delivery and handling), handler crashes (the soak covers those).
 *
 * Utilisation = the simulator's own books: ∫ jobs queued or running at RunComfy dt / (limit × time),
 * from the burst to the moment the last job left the line (while work was waiting).
 */

export const ADMISSION_GOALS = { ratelimitFailures: 0, upstream429PerJob: 0.05, utilisation: 0.9 } as const;
/** Per message: SQS delivery plus the handler's own time, added to every delay. */
const HOP_MS = 100;

export interface AdmissionOptions {
  /** @default 10_000 */
  jobs?: number;
  /** The simulator's account limit. @default 20 */
  upstreamLimit?: number;
  /** The pipeline's `upstreamConcurrency`. @default 20 (the construct's default) */
  pipelineConcurrency?: number;
  seed?: number;
}

export interface AdmissionResult {
  jobs: number;
  upstreamLimit: number;
  pipelineConcurrency: number;
  hopMs: number;
  runTimes: string;
  succeeded: number;
  failed: Record<string, number>;
  failedByRateLimiting: number;
  upstream429: number;
  upstream429PerJob: number;
  submitsAccepted: number;
  maxInFlightUpstream: number;
  /** Busy slots / limit from the burst until the line was empty. */
  utilisationWhileWaiting: number;
  /** The same over each quarter of that period (its spread). */
  utilisationByQuarter: { min: number; median: number; max: number; runs: number };
  virtualSecondsUntilLineEmpty: number;
  virtualSecondsUntilAllDone: number;
  messagesHandled: number;
  handlerErrors: number;
  wallSeconds: number;
}

class VirtualClock implements Clock {
  constructor(public ms: number) {}
  now(): number {
    return this.ms;
  }
  async sleep(ms: number): Promise<void> {
    this.ms += ms;
  }
}

/** The waiting line of one lane, ordered by place (`waitKey`), as DynamoDB's sparse index holds it. */
class Line {
  readonly #keys: string[] = [];
  readonly #byKey = new Map<string, string>();
  readonly #keyOf = new Map<string, string>();

  set(jobId: string, key: string | undefined): void {
    const old = this.#keyOf.get(jobId);
    if (old === key) return;
    if (old !== undefined) {
      this.#keys.splice(this.#find(old), 1);
      this.#byKey.delete(old);
      this.#keyOf.delete(jobId);
    }
    if (key === undefined) return;
    this.#keys.splice(this.#find(key), 0, key);
    this.#byKey.set(key, jobId);
    this.#keyOf.set(jobId, key);
  }

  first(count: number): { jobId: string; waitKey: string }[] {
    return this.#keys
      .slice(0, Math.max(0, count))
      .map((waitKey) => ({ jobId: this.#byKey.get(waitKey)!, waitKey }));
  }

  get size(): number {
    return this.#keys.length;
  }

  #find(key: string): number {
    let low = 0;
    let high = this.#keys.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.#keys[middle]! < key) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

/** The in-memory job store, keeping the waiting lines as the store's writes change them. */
class IndexedJobStore extends MemoryJobStore {
  readonly lines = { interactive: new Line(), batch: new Line() };

  override async create(job: Job, idempotency?: IdempotencyClaim): Promise<CreateResult> {
    const created = await super.create(job, idempotency);
    if (created.created) this.#track(created.job);
    return created;
  }

  override async write(id: string, change: JobWrite): Promise<Job | undefined> {
    const job = await super.write(id, change);
    if (job) this.#track(job);
    return job;
  }

  #track(job: Job): void {
    for (const lane of ['interactive', 'batch'] as const) {
      this.lines[lane].set(job.id, job.waitLane === lane ? job.waitKey : undefined);
    }
  }
}

class IndexedAdmissionStore extends MemoryAdmissionStore {
  constructor(private readonly indexed: IndexedJobStore) {
    super(indexed);
  }
  override async waiting(lane: 'interactive' | 'batch', count: number) {
    return this.indexed.lines[lane].first(count);
  }
}

type Message = { due: number; order: number; id: string } & (
  | { queue: 'poll'; body: PollQueueMessage }
  | { queue: 'result'; body: ResultMessage }
);

/** SQS as a timeline: messages by when they become visible, in order of sending among equals. */
class Timeline implements JobQueues {
  readonly #heap: Message[] = [];
  #order = 0;
  constructor(private readonly clock: VirtualClock) {}

  async schedulePoll(body: PollQueueMessage, delaySeconds: number): Promise<void> {
    this.push({ queue: 'poll', body }, delaySeconds);
  }
  async scheduleResult(body: ResultMessage, delaySeconds = 0): Promise<void> {
    this.push({ queue: 'result', body }, delaySeconds);
  }

  push(message: Pick<Message, 'queue' | 'body'>, delaySeconds: number): void {
    const order = this.#order++;
    const entry = {
      ...message,
      due: this.clock.now() + delaySeconds * 1000 + HOP_MS,
      order,
      id: `m${order}`,
    } as Message;
    const heap = this.#heap;
    heap.push(entry);
    let at = heap.length - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!before(heap[at]!, heap[parent]!)) break;
      [heap[at], heap[parent]] = [heap[parent]!, heap[at]!];
      at = parent;
    }
  }

  pop(): Message | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let at = 0;
      for (;;) {
        const left = 2 * at + 1;
        const right = left + 1;
        let next = at;
        if (left < heap.length && before(heap[left]!, heap[next]!)) next = left;
        if (right < heap.length && before(heap[right]!, heap[next]!)) next = right;
        if (next === at) break;
        [heap[at], heap[next]] = [heap[next]!, heap[at]!];
        at = next;
      }
    }
    return top;
  }
}

const before = (a: Message, b: Message) => a.due < b.due || (a.due === b.due && a.order < b.order);

export async function runAdmissionBenchmark(options: AdmissionOptions = {}): Promise<AdmissionResult> {
  const jobCount = options.jobs ?? 10_000;
  const upstreamLimit = options.upstreamLimit ?? 20;
  const pipelineConcurrency = options.pipelineConcurrency ?? 20;
  const seed = options.seed ?? 20_261_010;
  const wallStart = performance.now();
  const clock = new VirtualClock(Date.parse('2026-12-01T09:00:00.000Z'));
  const simulator = await startSimulator({
    clock,
    knobs: { max_in_flight: upstreamLimit, queue_delay_s: 0, workers: upstreamLimit, send_retry_after: true },
  });
  try {
    const config = loadConfig({
      JOBS_TABLE: 'bench',
      POLL_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/poll',
      RESULT_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/result',
      OUTPUT_BUCKET: 'bench',
      TOPIC_ARN: 'arn:aws:sns:us-east-1:000000000000:bench',
      EVENT_BUS_NAME: 'bench',
      RUNCOMFY_API_TOKEN: simulator.token,
      RUNCOMFY_BASE_URL: simulator.baseUrl,
      UPSTREAM_CONCURRENCY: String(pipelineConcurrency),
      ALLOW_LOOPBACK_HTTP_OUTPUTS: 'true',
    });
    const store = new IndexedJobStore(clock);
    const queues = new Timeline(clock);
    const notifier = new MemoryNotifier();
    const deps: CollectDeps = {
      config: { ...config, upstreamConcurrency: pipelineConcurrency },
      clock,
      log: silentLog,
      metrics: noMetrics,
      store,
      queues,
      runComfy: new RunComfyClient({
        baseUrl: simulator.baseUrl,
        token: async () => simulator.token,
        clock,
        ...RUNCOMFY_TIMING.poller,
      }),
      notifier,
      inputs: { policy: { allowed: [] }, resolve: async (urls) => [...urls] },
      outputs: new MemoryOutputStore(),
      admission: new IndexedAdmissionStore(store),
    };

    const { mu, sigma } = logNormalFromPercentiles(
      REFERENCE_LATENCY.p50Seconds,
      REFERENCE_LATENCY.p95Seconds,
    );
    const random = new SeededRandom(seed);
    simulator.admin.resetStats();
    const burstAt = clock.now();
    const ids: string[] = [];
    for (let index = 0; index < jobCount; index++) {
      const run = round(Math.min(120, random.logNormal(mu, sigma)), 3);
      const { job } = await submitEdit(deps, {
        input: {
          prompt: `burst ${index} [sim: run_s=${run}]`,
          image_urls: ['https://inputs.example.com/cup.png'],
        },
        owner: 'integration:sqs',
      });
      ids.push(job.id);
    }

    let messagesHandled = 0;
    let handlerErrors = 0;
    let lineEmptyAt: number | undefined;
    const samples: { at: number; integral: number }[] = [{ at: burstAt, integral: 0 }];
    let nextSample = burstAt;
    let maxInFlight = 0;
    for (let message = queues.pop(); message; message = queues.pop()) {
      if (message.due > clock.ms) clock.ms = message.due;
      try {
        if (message.queue === 'result') await collectResult(deps, message.body);
        else if ('dispatch' in message.body) await dispatchAdmissions(deps);
        else await pollJob(deps, message.body, message.id);
      } catch {
        // As SQS would: the message comes back after its visibility timeout.
        handlerErrors += 1;
        queues.push({ queue: message.queue, body: message.body } as Message, 30);
      }
      messagesHandled += 1;
      if (lineEmptyAt !== undefined) continue;
      const empty = store.lines.interactive.size === 0 && store.lines.batch.size === 0;
      if (empty || clock.ms >= nextSample) {
        const user = Object.values(simulator.admin.stats().concurrency)[0];
        if (user) {
          samples.push({ at: clock.ms, integral: user.in_flight_ms_integral });
          maxInFlight = Math.max(maxInFlight, user.max_in_flight);
        }
        nextSample = clock.ms + 60_000;
        if (empty) lineEmptyAt = clock.ms;
      }
    }

    const stats = simulator.admin.stats();
    const jobs = await Promise.all(ids.map((id) => store.get(id)));
    const failed: Record<string, number> = {};
    for (const job of jobs) {
      if (job?.status !== 'succeeded') {
        const key = `${job?.status ?? 'missing'}${job?.error ? `:${job.error.code}` : ''}`;
        failed[key] = (failed[key] ?? 0) + 1;
      }
    }
    const failedByRateLimiting = jobs.filter(
      (job) => job?.status === 'failed' && /RATE|429/i.test(`${job.error?.code} ${job.error?.message}`),
    ).length;
    const upstream429 = stats.by_endpoint_status['submit 429'] ?? stats.submits.refused_concurrency_limit;
    const end = lineEmptyAt ?? samples.at(-1)!.at;
    const window = samples.filter((s) => s.at <= end);
    const utilisation = (from: { at: number; integral: number }, to: { at: number; integral: number }) =>
      to.at > from.at ? (to.integral - from.integral) / (upstreamLimit * (to.at - from.at)) : Number.NaN;
    const last = window.at(-1)!;
    const quarter = (q: number) => window[Math.round(((window.length - 1) * q) / 4)]!;
    return {
      jobs: jobCount,
      upstreamLimit,
      pipelineConcurrency,
      hopMs: HOP_MS,
      runTimes: `log-normal p50 ${REFERENCE_LATENCY.p50Seconds} s, p95 ${REFERENCE_LATENCY.p95Seconds} s, ≤ 120 s (seed ${seed})`,
      succeeded: jobs.filter((job) => job?.status === 'succeeded').length,
      failed,
      failedByRateLimiting,
      upstream429,
      upstream429PerJob: round(upstream429 / jobCount, 4),
      submitsAccepted: stats.submits.accepted,
      maxInFlightUpstream: Math.max(
        maxInFlight,
        ...Object.values(stats.concurrency).map((c) => c.max_in_flight),
      ),
      utilisationWhileWaiting: round(utilisation(window[0]!, last), 4),
      utilisationByQuarter: spread(
        [0, 1, 2, 3].map((q) => utilisation(quarter(q), quarter(q + 1))),
        4,
      ),
      virtualSecondsUntilLineEmpty: round((end - burstAt) / 1000, 1),
      virtualSecondsUntilAllDone: round((clock.ms - burstAt) / 1000, 1),
      messagesHandled,
      handlerErrors,
      wallSeconds: round((performance.now() - wallStart) / 1000, 1),
    };
  } finally {
    await simulator.close();
  }
}

export function admissionGoals(result: AdmissionResult): GoalFigure[] {
  const label = `admission burst (${result.jobs.toLocaleString('en-US')} jobs, limit ${result.upstreamLimit})`;
  return [
    goal({
      id: 'admission.succeeded',
      label: `${label}: share succeeded`,
      unit: '',
      figure: spread([result.succeeded / result.jobs]),
      goal: { op: '==', value: 1 },
      baseline: 'jobs submitted',
    }),
    goal({
      id: 'admission.failed-by-rate-limiting',
      label: `${label}: jobs failed by rate limiting`,
      unit: '',
      figure: spread([result.failedByRateLimiting]),
      goal: { op: '==', value: ADMISSION_GOALS.ratelimitFailures },
      baseline: 'absolute',
    }),
    goal({
      id: 'admission.upstream-429-per-job',
      label: `${label}: upstream 429s per job`,
      unit: '',
      figure: spread([result.upstream429PerJob], 4),
      goal: { op: '<=', value: ADMISSION_GOALS.upstream429PerJob },
      baseline: 'jobs submitted',
    }),
    goal({
      id: 'admission.utilisation',
      label: `${label}: upstream utilisation while work waits`,
      unit: '',
      figure: { ...result.utilisationByQuarter, median: result.utilisationWhileWaiting },
      goal: { op: '>=', value: ADMISSION_GOALS.utilisation },
      baseline: "the account's limit (busy slots / limit, the simulator's books); spread: each quarter",
    }),
  ];
}
