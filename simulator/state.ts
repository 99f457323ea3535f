import { randomUUID } from 'node:crypto';
import type { SimClock } from './clock.ts';
import { type ConcurrencyBooks, ConcurrencyLedger } from './concurrency-ledger.ts';
import { SimulatorError } from './errors.ts';
import { checkInputImages } from './inputs.ts';
import { isBackward, isTerminal, type Job, type JobState, type NewJob } from './job.ts';
import type { Knobs } from './knobs.ts';
import type { Rng } from './random.ts';
import type { JobScript } from './script.ts';
import type { InjectedFault } from './stats.ts';

interface StoreDeps {
  clock: SimClock;
  knobs: () => Knobs;
  rng: () => Rng;
  /** Where faults drawn for jobs and charges are booked. */
  books: { injected(kind: InjectedFault): void; charged(usd: number): void };
}

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
export class JobStore {
  readonly #deps: StoreDeps;
  #jobs = new Map<string, Job>();
  /** Queued jobs in submission order. */
  #queued: Job[] = [];
  #running = new Set<Job>();
  #balances = new Map<string, number | null>();
  #ledger: ConcurrencyLedger;
  #seq = 0;
  #settledAt: number;

  constructor(deps: StoreDeps) {
    this.#deps = deps;
    this.#settledAt = deps.clock.now();
    this.#ledger = new ConcurrencyLedger(this.#settledAt);
  }

  create(request: NewJob): Job {
    this.settle();
    const knobs = this.#deps.knobs();
    const rng = this.#deps.rng();
    const script = { ...request.script };
    // One draw per knob that is on, in a fixed order, so a seed replays the same faults.
    const draw = (probability: number, kind?: InjectedFault) => {
      const drawn = probability > 0 && rng.next() < probability;
      if (drawn && kind) this.#deps.books.injected(kind);
      return drawn;
    };
    if (draw(knobs.p_fail, 'job_fail')) script.fail = true;
    if (draw(knobs.p_stall, 'job_stall')) script.stall = true;
    if (draw(knobs.p_long_run, 'job_long_run')) script.run_s = knobs.long_run_s;
    if (draw(knobs.p_file_not_ready, 'job_file_not_ready')) script.file_not_ready_s = knobs.file_not_ready_s;
    // Booked as `submit_dropped_after_commit` when the server loses the answer.
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
      submitAnswerDropped: false,
      files: [],
    };
    this.#jobs.set(job.id, job);
    this.#queued.push(job);
    this.#ledger.account(job.createdAt, job.userId, +1);
    if (knobs.fetch_inputs) this.#checkInputs(job);
    return job;
  }

  /** Jobs of a user queued or running now (what `max_in_flight` bounds). */
  inFlight(userId: string): number {
    this.settle();
    return this.#ledger.inFlight(userId);
  }

  /** Concurrency books per user who has had a job since the simulator's reset. */
  concurrency(): Record<string, ConcurrencyBooks> {
    this.settle();
    return this.#ledger.report(this.#deps.clock.now());
  }

  /** Starts the concurrency books again from now (a stats reset): the jobs in flight stay. */
  restartBooks(): void {
    this.settle();
    this.#ledger.restart(this.#deps.clock.now());
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
    this.#ledger.account(job.finishedAt, job.userId, -1);
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
    if (isBackward(job.state, to)) {
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
      this.#ledger.account(now, job.userId, -1);
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
    this.#settledAt = this.#deps.clock.now();
    this.#ledger.clear(this.#settledAt);
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
    this.#ledger.account(at, job.userId, -1);
    if (failed) job.failReason = problem ?? job.script.error_message ?? knobs.error_message;
    if (!failed || knobs.charge_failed) this.#charge(job, knobs.price_per_request_usd);
  }

  #charge(job: Job, usd: number): void {
    job.chargedUsd = usd;
    this.#deps.books.charged(usd);
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
