import { z } from 'zod';

/**
 * What a soak does: how many jobs at what rate, and the faults it plays — the simulator's
 * (RunComfy misbehaving) and the local runtime's (SQS and Lambda misbehaving). Rates are
 * fractions (0–1) of the calls, deliveries or jobs they apply to.
 */
export const SoakOptionsSchema = z.object({
  jobs: z.int().min(1).max(100_000).default(500),
  /** Submissions per second, steady. */
  rate: z.number().positive().max(200).default(2),
  /** Seeds every random draw (the simulator's, the runtime's, the soak's own). */
  seed: z.int().default(1),
  /** Every fault kind at higher rates, for a short run that must meet each at least once. */
  short: z.boolean().default(false),
  /** How long to wait, after the last submission, for the next job to end (or give up on the rest). */
  settleSeconds: z.number().positive().default(180),
  /** Edits in the soak's one batch (0: none), submitted with the first jobs. */
  batchEdits: z.int().min(0).max(50_000).default(200),
});
export type SoakOptions = z.output<typeof SoakOptionsSchema>;

/** Settings the soak runs the pipeline with: short deadlines, so that every path is taken in minutes. */
export const SOAK_SETTINGS = {
  jobDeadlineSeconds: 20,
  runOvertimeSeconds: 20,
  sweepGraceSeconds: 5,
  maxPollDelaySeconds: 2,
  // Six download attempts (waits 2+4+8+16+32 s): at the short soak's tripled fault rates, five
  // (a 60 s window) lost a run in about one soak in fifteen: an output not ready for 8 s, then
  // reset twice. The default window (900 s) makes about eighteen.
  resultRetryWindowSeconds: 120,
  upstreamConcurrency: 20,
  webhookRetryDelaysSeconds: '1,2,4',
  // Several chunks even for a small batch.
  batchChunkLines: 25,
} as const;

/** The account concurrency the simulator enforces (429 beyond it): Black Forest Labs' documented 24. */
export const SIMULATED_ACCOUNT_CONCURRENCY = 24;

/** RunComfy faults (simulator knobs). `long_run_s` ends inside the overtime: the run is collected. */
export function simulatorKnobs(options: SoakOptions) {
  const k = options.short ? 3 : 1;
  return {
    random_seed: options.seed,
    queue_delay_s: 0.3,
    run_delay_s: 1,
    workers: 32,
    max_in_flight: SIMULATED_ACCOUNT_CONCURRENCY,
    retry_after_s: 1,
    p_rate_limited: 0.02 * k,
    p_submit_5xx: 0.02 * k,
    p_status_5xx: 0.02 * k,
    p_cancel_5xx: 0.1 * k,
    p_slow: 0.02 * k,
    slow_ms: 1_500,
    p_submit_drop_after: 0.01 * k,
    p_file_reset: 0.03 * k,
    p_file_not_ready: 0.03 * k,
    file_not_ready_s: 8,
    p_fail: 0.03 * k,
    p_stall: 0.005 * k,
    p_long_run: 0.02 * k,
    long_run_s: 28,
  };
}

/** Faults of our own side: SQS delivering twice, handlers dying after a side effect, visibility lapsing. */
export function pipelineChaos(options: SoakOptions) {
  const k = options.short ? 3 : 1;
  return {
    delivery: { duplicate: 0.03 * k, skipDelete: 0.02 * k, expireVisibility: 0.01 * k },
    crashAfterWrite: 0.01 * k,
  };
}

/** What the soak itself does to some jobs: ask for webhooks, repeat submissions, cancel while queued. */
export function soakActions(options: SoakOptions) {
  const k = options.short ? 2 : 1;
  return {
    /** Jobs that ask for a signed webhook (the receiver fails some first deliveries). */
    webhook: 0.2 * k,
    webhookReceiverFails: 0.1 * k,
    /** Jobs submitted three times at once with one Idempotency-Key. */
    repeatSubmission: 0.05 * k,
    /** Jobs the simulator holds queued, which the soak then cancels. */
    cancelWhileQueued: 0.03 * k,
  };
}

/**
 * Job faults the short soak plays on its first jobs by script (each on two), so that each kind happens at
 * least once whatever the random draws (the simulator's per-job scripts, reference §3.8).
 */
export const SCRIPTED_FAULTS = [
  '[sim: fail]',
  '[sim: stall]',
  '[sim: run_s=28]',
  '[sim: file_not_ready_s=8]',
  '[sim: drop_response]',
] as const;

/** A small seeded PRNG (mulberry32), so that a soak's own choices replay. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
