import { randomUUID } from 'node:crypto';
import type { SimClock } from './clock.ts';
import { SimulatorError } from './errors.ts';
import { checkInputImages } from './inputs.ts';
import type { Knobs } from './knobs.ts';
import type { Rng } from './random.ts';
import type { JobScript } from './script.ts';
import type { EditRequest } from './validation.ts';

/**
 * The job store and its state machine (reference §3.4):
 *
 *   queued ──cancel──► cancelled
 *     │ a worker is free and the job's queue delay has elapsed (FIFO among eligible jobs)
 *     ▼
 *   running ──► succeeded | failed      (after the job's run delay; `stall` never finishes)
 *
 * States only move forward and terminal states never change. Time-driven transitions are
 * computed lazily (`settle`) as a discrete-event replay up to the sim clock's "now", so the
 * timeline is exact and identical whether or not anyone was watching.
 */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

const RANK: Record<JobState, number> = { queued: 0, running: 1, succeeded: 2, failed: 2, cancelled: 2 };

export const isTerminal = (state: JobState): boolean => RANK[state] === 2;

type InputCheck =
  | { status: 'skipped' }
  | { status: 'pending' }
  | { status: 'done'; at: number; problem?: string };

export interface Job {
  readonly id: string;
  /** Submission order: the queue is FIFO by this. */
  readonly seq: number;
  readonly userId: string;
  readonly modelId: string;
  readonly input: EditRequest;
  /** The caller's seed, or the one the simulator picked. */
  readonly seed: number;
  readonly createdAt: number;
  readonly outputCount: number;
  readonly outputMinBytes: number;
  state: JobState;
  startedAt: number | undefined;
  finishedAt: number | undefined;
  /** Snapshotted from the knobs at submit; per-job scripts may change them. */
  queueMs: number;
  runMs: number;
  script: JobScript;
  /** Why the run failed (set once the job is `failed`). */
  failReason: string | undefined;
  /** Polls seen in the current state (`clock_mode: polls`). */
  pollsInState: number;
  chargedUsd: number;
  inputCheck: InputCheck;
}

export interface NewJob {
  userId: string;
  modelId: string;
  input: EditRequest;
  script: JobScript;
}

interface StoreDeps {
  clock: SimClock;
  knobs: () => Knobs;
  rng: () => Rng;
}

export class JobStore {
  readonly #deps: StoreDeps;
  #jobs = new Map<string, Job>();
  /** Queued jobs in submission order. */
  #queued: Job[] = [];
  #running = new Set<Job>();
  #balances = new Map<string, number | null>();
  #inFlight = new Map<
    string,
    { count: number; max: number; integral: number; lastAt: number; since: number }
  >();
  #seq = 0;
  #settledAt: number;

  constructor(deps: StoreDeps) {
    this.#deps = deps;
    this.#settledAt = deps.clock.now();
  }

  create(request: NewJob): Job {
    this.settle();
    const knobs = this.#deps.knobs();
    const rng = this.#deps.rng();
    const script = { ...request.script };
    const draw = (probability: number) => probability > 0 && rng.next() < probability;
    if (draw(knobs.p_fail)) script.fail = true;
    if (draw(knobs.p_stall)) script.stall = true;
    if (draw(knobs.p_long_run)) script.run_s = knobs.long_run_s;
    if (draw(knobs.p_file_not_ready)) script.file_not_ready_s = knobs.file_not_ready_s;
    if (draw(knobs.p_submit_drop_after)) script.drop_response = true;
    const job: Job = {
      id: randomUUID(),
      seq: ++this.#seq,
      userId: request.userId,
      modelId: request.modelId,
      input: request.input,
      seed: request.input.seed ?? rng.int(2 ** 31),
      createdAt: this.#deps.clock.now(),
      outputCount: knobs.output_count,
      outputMinBytes: knobs.output_min_bytes,
      state: 'queued',
      startedAt: undefined,
      finishedAt: undefined,
      queueMs: (script.queue_s ?? knobs.queue_delay_s) * 1000,
      runMs: (script.run_s ?? knobs.run_delay_s) * 1000,
      script,
      failReason: undefined,
      pollsInState: 0,
      chargedUsd: 0,
      inputCheck: { status: 'skipped' },
    };
    this.#jobs.set(job.id, job);
    this.#queued.push(job);
    this.#account(job.createdAt, job.userId, +1);
    if (knobs.fetch_inputs) this.#checkInputs(job);
    return job;
  }

  /** Jobs of a user queued or running now (what `max_in_flight` bounds). */
  inFlight(userId: string): number {
    this.settle();
    return this.#inFlight.get(userId)?.count ?? 0;
  }

  /** Concurrency books per user: now, the maximum seen, and the time integral of the count. */
  concurrency(): Record<
    string,
    { in_flight: number; max_in_flight: number; in_flight_ms_integral: number; since: number }
  > {
    this.settle();
    const now = this.#deps.clock.now();
    return Object.fromEntries(
      [...this.#inFlight.entries()].map(([userId, books]) => [
        userId,
        {
          in_flight: books.count,
          max_in_flight: books.max,
          in_flight_ms_integral: books.integral + books.count * (now - books.lastAt),
          since: books.since,
        },
      ]),
    );
  }

  /** A job entered (+1) or left (-1) the queued-or-running set at `at`. */
  #account(at: number, userId: string, delta: 1 | -1): void {
    let books = this.#inFlight.get(userId);
    if (!books) {
      books = { count: 0, max: 0, integral: 0, lastAt: at, since: at };
      this.#inFlight.set(userId, books);
    }
    books.integral += books.count * Math.max(0, at - books.lastAt);
    books.lastAt = Math.max(books.lastAt, at);
    books.count += delta;
    books.max = Math.max(books.max, books.count);
  }

  /** The job as of now (after replaying due transitions), or undefined. */
  find(id: string): Job | undefined {
    this.settle();
    return this.#jobs.get(id);
  }

  all(): Job[] {
    this.settle();
    return [...this.#jobs.values()];
  }

  /** Number of queued jobs submitted before this one; undefined unless it is queued. */
  jobsAhead(job: Job): number | undefined {
    if (job.state !== 'queued') return undefined;
    let ahead = 0;
    for (const other of this.#queued) {
      if (other.seq >= job.seq) break;
      ahead++;
    }
    return ahead;
  }

  /** Replays every time-driven transition due up to now (`timed` and `manual` clock modes). */
  settle(): void {
    const { clock } = this.#deps;
    const now = clock.now();
    if (clock.mode === 'polls') {
      this.#settledAt = now;
      return;
    }
    const workers = this.#deps.knobs().workers;
    let cursor = this.#settledAt;
    for (;;) {
      const finishing = this.#nextFinish(cursor);
      const starting = this.#busyWorkers() < workers ? this.#nextStart(cursor) : undefined;
      if (finishing && finishing.at <= now && (!starting || finishing.at <= starting.at)) {
        this.#finish(finishing.job, finishing.at);
        cursor = finishing.at;
      } else if (starting && starting.at <= now) {
        this.#start(starting.job, starting.at);
        cursor = starting.at;
      } else {
        break;
      }
    }
    this.#settledAt = Math.max(this.#settledAt, now);
  }

  /** Counts a status/result poll; in `polls` mode every `polls_per_state` polls move the job one state on. */
  notePoll(job: Job): void {
    if (this.#deps.clock.mode !== 'polls' || isTerminal(job.state)) return;
    job.pollsInState++;
    if (job.pollsInState < this.#deps.knobs().polls_per_state) return;
    const now = this.#deps.clock.now();
    if (job.state === 'queued') {
      if (!job.script.hold) this.#start(job, now);
    } else if (!job.script.stall && job.inputCheck.status !== 'pending') this.#finish(job, now);
  }

  /** Only queued jobs can be cancelled (§3.3 E4); cancelling a cancelled job is a no-op. */
  cancel(job: Job): 'cancelled' | 'not_cancellable' {
    this.settle();
    if (job.state === 'cancelled') return 'cancelled';
    if (job.state !== 'queued') return 'not_cancellable';
    this.#leaveQueue(job);
    job.state = 'cancelled';
    job.finishedAt = this.#deps.clock.now();
    this.#account(job.finishedAt, job.userId, -1);
    return 'cancelled';
  }

  /** Admin: move a job forward now. Backwards moves and leaving a terminal state are refused. */
  forceTransition(job: Job, to: JobState, options: { errorMessage?: string } = {}): void {
    this.settle();
    if (job.state === to) return;
    if (isTerminal(job.state)) {
      throw new SimulatorError(
        'TERMINAL_STATE',
        `job ${job.id} is ${job.state}; terminal states never change`,
        409,
      );
    }
    if (RANK[to] < RANK[job.state]) {
      throw new SimulatorError(
        'BACKWARD_TRANSITION',
        `job ${job.id} cannot go from ${job.state} back to ${to}`,
        409,
      );
    }
    const now = this.#deps.clock.now();
    if (job.state === 'queued') {
      if (to === 'cancelled') {
        this.cancel(job);
        return;
      }
      this.#start(job, now);
    }
    if (to === 'running') return;
    if (to === 'cancelled') {
      // Only an admin can do this (the API cannot cancel a running job): a "cancelled by the provider" case.
      this.#running.delete(job);
      job.state = 'cancelled';
      job.finishedAt = now;
      this.#account(now, job.userId, -1);
      return;
    }
    job.script = { ...job.script, fail: to === 'failed', stall: false };
    if (options.errorMessage !== undefined) job.script.error_message = options.errorMessage;
    job.inputCheck = { status: 'skipped' };
    this.#finish(job, now);
  }

  /** Admin: change an existing job's script (timings apply from now on, flags at the next transition). */
  applyScript(job: Job, script: JobScript): void {
    job.script = { ...job.script, ...script };
    if (script.queue_s !== undefined) job.queueMs = script.queue_s * 1000;
    if (script.run_s !== undefined) job.runMs = script.run_s * 1000;
  }

  recordExpired(job: Job): boolean {
    const ttlS = job.script.expire_after_s ?? this.#deps.knobs().record_ttl_s;
    return ttlS !== null && this.#deps.clock.now() - job.createdAt > ttlS * 1000;
  }

  outputExpired(job: Job): boolean {
    const ttlS = job.script.output_ttl_s ?? this.#deps.knobs().output_ttl_s;
    return (
      ttlS !== null && job.finishedAt !== undefined && this.#deps.clock.now() - job.finishedAt > ttlS * 1000
    );
  }

  /** USD left for a user; null means unlimited. */
  balance(userId: string): number | null {
    return this.#balances.has(userId) ? (this.#balances.get(userId) ?? null) : this.#deps.knobs().balance_usd;
  }

  setBalance(userId: string, usd: number | null): void {
    this.#balances.set(userId, usd);
  }

  reset(): void {
    this.#jobs.clear();
    this.#queued = [];
    this.#running.clear();
    this.#balances.clear();
    this.#inFlight.clear();
    this.#settledAt = this.#deps.clock.now();
  }

  /** Whether the job's files are still not ready (the host answers 404 until then). */
  filesNotReady(job: Job): boolean {
    const delayS = job.script.file_not_ready_s;
    return (
      delayS !== undefined &&
      job.finishedAt !== undefined &&
      this.#deps.clock.now() < job.finishedAt + delayS * 1000
    );
  }

  #busyWorkers(): number {
    let busy = 0;
    for (const job of this.#running) if (!job.script.stall) busy++;
    return busy;
  }

  #nextFinish(cursor: number): { job: Job; at: number } | undefined {
    let next: { job: Job; at: number } | undefined;
    for (const job of this.#running) {
      if (job.script.stall || job.inputCheck.status === 'pending') continue;
      let at = job.startedAt! + job.runMs;
      if (job.inputCheck.status === 'done') at = Math.max(at, job.inputCheck.at);
      at = Math.max(at, cursor);
      if (!next || at < next.at) next = { job, at };
    }
    return next;
  }

  /** The earliest moment a free worker takes a job, and which one (the oldest eligible then). */
  #nextStart(cursor: number): { job: Job; at: number } | undefined {
    let earliest = Number.POSITIVE_INFINITY;
    for (const job of this.#queued)
      if (!job.script.hold) earliest = Math.min(earliest, job.createdAt + job.queueMs);
    if (earliest === Number.POSITIVE_INFINITY) return undefined;
    const at = Math.max(cursor, earliest);
    const job = this.#queued.find(
      (candidate) => !candidate.script.hold && candidate.createdAt + candidate.queueMs <= at,
    );
    return job && { job, at };
  }

  #start(job: Job, at: number): void {
    this.#leaveQueue(job);
    this.#running.add(job);
    job.state = 'running';
    job.startedAt = at;
    job.pollsInState = 0;
  }

  #finish(job: Job, at: number): void {
    this.#running.delete(job);
    const knobs = this.#deps.knobs();
    const problem = job.inputCheck.status === 'done' ? job.inputCheck.problem : undefined;
    const failed = job.script.fail === true || problem !== undefined;
    job.state = failed ? 'failed' : 'succeeded';
    job.finishedAt = at;
    job.pollsInState = 0;
    this.#account(at, job.userId, -1);
    if (failed) job.failReason = problem ?? job.script.error_message ?? knobs.error_message;
    if (!failed || knobs.charge_failed) this.#charge(job, knobs.price_per_request_usd);
  }

  #charge(job: Job, usd: number): void {
    job.chargedUsd = usd;
    const balance = this.balance(job.userId);
    if (balance !== null) this.#balances.set(job.userId, balance - usd);
  }

  #leaveQueue(job: Job): void {
    const index = this.#queued.indexOf(job);
    if (index >= 0) this.#queued.splice(index, 1);
  }

  #checkInputs(job: Job): void {
    job.inputCheck = { status: 'pending' };
    void checkInputImages(job.input.image_urls).then((problem) => {
      job.inputCheck = { status: 'done', at: this.#deps.clock.now(), ...(problem ? { problem } : {}) };
    });
  }
}
