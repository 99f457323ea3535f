import type { ConcurrencyBooks } from './concurrency-ledger.ts';
import type { SimContext } from './context.ts';
import { SimulatorError } from './errors.ts';
import type { FaultRule, FaultRuleInput } from './faults.ts';
import type { Job, JobState } from './job.ts';
import type { Knobs, KnobsInput } from './knobs.ts';
import { type JobScript, parseScript } from './script.ts';
import type { StatsSnapshot } from './stats.ts';
import { isoTimestamp, outputUrls, statusOf } from './wire.ts';

/** What the admin API tells about a job: its internal state plus what the wire would say. */
export interface JobView {
  request_id: string;
  user_id: string;
  model_id: string;
  state: JobState;
  /** What E2 would answer right now. */
  status: string;
  /** With `queue_position_base` applied; null unless queued. */
  queue_position: number | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  seed: number;
  input: Job['input'];
  script: JobScript;
  fail_reason: string | null;
  charged_usd: number;
  output_urls: string[];
  record_expired: boolean;
  outputs_expired: boolean;
  /** Submit calls that created this job: always 1 (RunComfy has no idempotency, §3.3 E1). */
  submit_calls: 1;
  /** The answer to its submit was lost after the job was created (knob, script or fault rule). */
  submit_answer_dropped: boolean;
  /** Its output files (succeeded jobs only); `bytes`/`sha256` are null until first rendered (downloaded). */
  outputs: OutputBook[];
}

/** An output file as the file host serves it. */
export interface OutputBook {
  url: string;
  bytes: number | null;
  /** SHA-256 (hex) of exactly the bytes the file endpoint serves. */
  sha256: string | null;
  /** Complete 200 GET answers so far. */
  downloads: number;
}

/** Request counters and totals ({@link StatsSnapshot}), plus the upstream concurrency per user. */
export interface SimStats extends StatsSnapshot {
  concurrency: Record<string, ConcurrencyBooks>;
}

export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

/**
 * Test/benchmark control of a running simulator, in-process. The HTTP admin API (`/__sim/...`)
 * maps one-to-one onto these methods.
 *
 * @example
 * const sim = await startSimulator({ knobs: { clock_mode: 'manual' } });
 * sim.admin.failNext({ endpoint: 'status', status: 503, times: 2 });
 * sim.admin.advance(500); // the queued job starts
 */
export class SimulatorAdmin {
  readonly #ctx: SimContext;

  constructor(ctx: SimContext) {
    this.#ctx = ctx;
  }

  knobs(): Knobs {
    return structuredClone(this.#ctx.knobs);
  }

  /** Top-level keys replace; invalid or unknown knobs throw (HTTP: 400). */
  setKnobs(patch: Partial<KnobsInput>): Knobs {
    return structuredClone(this.#ctx.setKnobs(patch));
  }

  /** Forget all jobs, balances, faults, scripts, stats; knobs return to the start knobs plus `knobs`. */
  reset(options: { knobs?: Partial<KnobsInput> } = {}): void {
    this.#ctx.reset(options.knobs);
  }

  /** Fail the next `times` (default 1) calls matching method/endpoint/path_prefix (see {@link FaultRuleInput}). */
  failNext(rule: FaultRuleInput): FaultRule {
    return this.#ctx.faults.add(rule);
  }

  faults(): FaultRule[] {
    return this.#ctx.faults.rules();
  }

  clearFaults(): void {
    this.#ctx.faults.reset();
  }

  /** The next `times` submits get this script (merged under prompt and header scripts). */
  scriptNext(script: string | JobScript, times = 1): void {
    const parsed = typeof script === 'string' ? parseScript(script) : script;
    for (let i = 0; i < times; i++) this.#ctx.pendingScripts.push({ ...parsed });
  }

  clearScripts(): void {
    this.#ctx.pendingScripts = [];
  }

  /** Change an existing job's script, e.g. make a running job `stall` or `fail`. */
  scriptJob(requestId: string, script: string | JobScript): JobView {
    const job = this.#job(requestId);
    this.#ctx.store.applyScript(job, typeof script === 'string' ? parseScript(script) : script);
    return this.#view(job);
  }

  /** Force a job forward now (queued -> running -> succeeded|failed, queued -> cancelled). Terminal states refuse (409). */
  transition(requestId: string, to: JobState, options: { error_message?: string } = {}): JobView {
    if (!JOB_STATES.includes(to)) throw new SimulatorError('INVALID_STATE', `unknown state "${to}"`);
    const job = this.#job(requestId);
    this.#ctx.store.forceTransition(
      job,
      to,
      options.error_message === undefined ? {} : { errorMessage: options.error_message },
    );
    return this.#view(job);
  }

  /** All jobs in submission order. */
  jobs(): JobView[] {
    return this.#ctx.store.all().map((job) => this.#view(job));
  }

  job(requestId: string): JobView | undefined {
    const job = this.#ctx.store.find(requestId);
    return job && this.#view(job);
  }

  /** null = unlimited. */
  setBalance(userId: string, usd: number | null): void {
    if (usd !== null && !Number.isFinite(usd))
      throw new SimulatorError('INVALID_BALANCE', 'balance must be finite or null');
    this.#ctx.store.setBalance(userId, usd);
  }

  balance(userId: string): number | null {
    this.#ctx.store.settle();
    return this.#ctx.store.balance(userId);
  }

  /** Move the sim clock forward (any clock mode) and apply every transition that became due. */
  advance(ms: number): void {
    try {
      this.#ctx.clock.advance(ms);
    } catch (error) {
      throw new SimulatorError('INVALID_ADVANCE', (error as Error).message);
    }
    this.#ctx.store.settle();
  }

  /** Sim-clock milliseconds since the epoch. */
  now(): number {
    return this.#ctx.clock.now();
  }

  /**
   * The request counters, plus the books a soak checks its invariants against: submits accepted and
   * refused by the concurrency limit, injected faults by kind, what was charged, and the upstream
   * concurrency per user (now, the maximum seen, and the time integral of jobs queued or running,
   * so `in_flight_ms_integral / (limit × measured_ms)` is the utilisation). All since `resetStats`.
   */
  stats(): SimStats {
    this.#ctx.store.settle(); // finish and charge every run that is due first
    return { ...this.#ctx.stats.snapshot(), concurrency: this.#ctx.store.concurrency() };
  }

  /**
   * A succeeded job's output files with their size and SHA-256, rendering any not downloaded yet
   * (the same bytes the file endpoint serves); [] for any other job.
   */
  async outputs(requestId: string): Promise<OutputBook[]> {
    const job = this.#job(requestId);
    await Promise.all(outputUrls(this.#ctx, job).map((_, index) => this.#ctx.outputs.bytes(job, index)));
    return this.#view(job).outputs;
  }

  /** Starts the counters, totals and concurrency books again from now (jobs and their books stay). */
  resetStats(): void {
    this.#ctx.store.settle(); // runs that finished before now are charged to the old books
    this.#ctx.stats.reset();
    this.#ctx.store.restartBooks();
  }

  #job(requestId: string): Job {
    const job = this.#ctx.store.find(requestId);
    if (!job) throw new SimulatorError('UNKNOWN_JOB', `no job ${requestId}`, 404);
    return job;
  }

  #view(job: Job): JobView {
    const { knobs, store } = this.#ctx;
    const ahead = store.jobsAhead(job);
    const iso = (ms: number | undefined) => (ms === undefined ? null : isoTimestamp(ms));
    return structuredClone({
      request_id: job.id,
      user_id: job.userId,
      model_id: job.modelId,
      state: job.state,
      status: statusOf(job, knobs),
      queue_position: ahead === undefined ? null : ahead + knobs.queue_position_base,
      created_at: isoTimestamp(job.createdAt),
      started_at: iso(job.startedAt),
      finished_at: iso(job.finishedAt),
      seed: job.seed,
      input: job.input,
      script: job.script,
      fail_reason: job.failReason ?? null,
      charged_usd: job.chargedUsd,
      output_urls: outputUrls(this.#ctx, job),
      record_expired: store.recordExpired(job),
      outputs_expired: store.outputExpired(job),
      submit_calls: 1,
      submit_answer_dropped: job.submitAnswerDropped,
      outputs: outputUrls(this.#ctx, job).map((url, index) => {
        const file = job.files[index];
        return {
          url,
          bytes: file?.bytes ?? null,
          sha256: file?.sha256 ?? null,
          downloads: file?.downloads ?? 0,
        };
      }),
    });
  }
}
