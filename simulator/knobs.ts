import { z } from 'zod';
import { SimulatorError } from './errors.ts';

/** `null` means "unlimited" / "never" for every nullable number below (JSON has no Infinity). */
const seconds = z.number().nonnegative();

/**
 * Every behaviour of the simulator that a test or benchmark may want to change, with the
 * contract's defaults (reference §3.1, §3.8). Knobs are set at start and at runtime
 * (`admin.setKnobs` / `PATCH /__sim/knobs`); timings are snapshotted per job at submit.
 */
export const KnobsSchema = z.object({
  /** Bearer token -> user id. The first entry is the token `startSimulator` reports. */
  tokens: z.record(z.string().min(1), z.string().min(1)).default({ 'sim-token': 'u1' }),
  /** Starting balance of every user without an explicit one (`admin.setBalance`); null = unlimited. */
  balance_usd: z.number().nullable().default(null),
  price_per_request_usd: z.number().nonnegative().default(0.01),
  /** Failed runs are not charged by default (contract §3.4 charge policy). */
  charge_failed: z.boolean().default(false),

  /** `timed`: wall clock (+ advance offset); `manual`: frozen clock, moves only on advance; `polls`: one state per `polls_per_state` polls. */
  clock_mode: z.enum(['timed', 'manual', 'polls']).default('timed'),
  polls_per_state: z.int().positive().default(1),
  queue_delay_s: seconds.default(0.5),
  run_delay_s: seconds.default(2),
  workers: z.int().positive().default(1),
  queue_position_base: z.int().nonnegative().default(0),

  /** Age (from created_at) after which E2/E3/E4 answer 404001; null = never. */
  record_ttl_s: seconds.nullable().default(null),
  /** Age (from finished_at) after which output files answer `output_expired_http`; null = never. */
  output_ttl_s: seconds.nullable().default(604_800),
  output_expired_http: z.union([z.literal(404), z.literal(403)]).default(404),

  /** `image`/`video` give a string (an array once `output_count` > 1); `images`/`videos` always an array. */
  output_key: z.enum(['image', 'images', 'video', 'videos']).default('image'),
  output_count: z.int().min(1).max(16).default(1),
  /** Pads every output file (with a valid ancillary chunk/segment) to at least this many bytes. */
  output_min_bytes: z
    .int()
    .nonnegative()
    .max(512 * 1024 * 1024)
    .default(0),

  status_on_failure: z.enum(['completed', 'failed']).default('completed'),
  result_success_status: z.enum(['succeeded', 'completed']).default('succeeded'),
  cancel_status_field: z.enum(['cancelled', 'completed']).default('cancelled'),
  error_shape: z.enum(['object', 'string', 'json_string', 'serverless_array']).default('object'),
  error_message: z.string().default('Simulated generation failure'),
  error_body_style: z.enum(['default', 'community_mock', 'message_only']).default('default'),

  auth_error_http: z.union([z.literal(400), z.literal(401)]).default(400),
  unknown_model_http: z.union([z.literal(400), z.literal(404)]).default(400),
  insufficient_http: z.union([z.literal(400), z.literal(402)]).default(400),
  /** API 4xx errors (not injected 429s) answer HTTP 200 with the error body. */
  http200_error_quirk: z.boolean().default(false),
  /** Submit answers only `{request_id}`. */
  drop_urls_in_submit: z.boolean().default(false),
  /** Every submit creates its job, then the socket is destroyed without a response. */
  close_connection_on_submit_after_commit: z.boolean().default(false),
  /** Added (real time) before every /v1 and file response. */
  latency_ms: z.int().nonnegative().default(0),

  /** Probabilities, drawn from a PRNG seeded with `random_seed` (reset restarts the sequence). */
  p_fail: z.number().min(0).max(1).default(0),
  p_status_5xx: z.number().min(0).max(1).default(0),
  p_submit_5xx: z.number().min(0).max(1).default(0),
  random_seed: z.int().default(1),
  /** At most `requests` /v1 calls per token per `window_s` (sim clock), else 429/429001. */
  rate_limit: z
    .object({ requests: z.int().positive(), window_s: z.number().positive() })
    .nullable()
    .default(null),
  send_retry_after: z.boolean().default(true),
  /** Retry-After for injected 429/5xx (rate-limit 429s say when the window reopens). */
  retry_after_s: z.int().nonnegative().default(1),

  /** A fraction of answers to any /v1 call: 429 / 429001 (with Retry-After per `send_retry_after`). */
  p_rate_limited: z.number().min(0).max(1).default(0),
  /** A fraction of cancels answered 500/502/503 (`p_status_5xx` covers GETs, `p_submit_5xx` submits). */
  p_cancel_5xx: z.number().min(0).max(1).default(0),
  /** A fraction of /v1 and file answers delayed by `slow_ms` (real time). */
  p_slow: z.number().min(0).max(1).default(0),
  slow_ms: z.int().nonnegative().default(0),
  /** A fraction of submits whose job is created and whose answer is then lost (socket destroyed). */
  p_submit_drop_after: z.number().min(0).max(1).default(0),
  /** A fraction of output downloads that send their headers and part of the body, then reset. */
  p_file_reset: z.number().min(0).max(1).default(0),
  /** A fraction of jobs whose files answer 404 until `file_not_ready_s` after the run finished. */
  p_file_not_ready: z.number().min(0).max(1).default(0),
  file_not_ready_s: seconds.default(0),
  /** A fraction of jobs that never finish (as the `stall` script). */
  p_stall: z.number().min(0).max(1).default(0),
  /** A fraction of jobs whose run takes `long_run_s` instead of `run_delay_s`. */
  p_long_run: z.number().min(0).max(1).default(0),
  long_run_s: seconds.default(0),
  /**
   * The account's concurrency: a submit while the token's user already has this many jobs queued
   * or running answers 429 / 429001 and creates nothing. null = unlimited. [INF: RunComfy documents
   * no limit; Black Forest Labs' API documents 24 concurrent tasks.]
   */
  max_in_flight: z.int().positive().nullable().default(null),

  fail_token: z.string().min(1).default('__FAIL__'),
  stall_token: z.string().min(1).default('__STALL__'),
  /** Holds a job queued (no worker takes it) until an admin transition or a cancel. */
  hold_token: z.string().min(1).default('__HOLD__'),

  allow_http_inputs: z.boolean().default(false),
  allow_data_uris: z.boolean().default(true),
  truncate_extra_images: z.boolean().default(false),
  allow_custom_size: z.boolean().default(false),
  reject_unknown_keys: z.boolean().default(false),
  /** Fetch every input URL when the job is submitted; unreachable or undecodable inputs fail the run. */
  fetch_inputs: z.boolean().default(false),
});

export type Knobs = z.output<typeof KnobsSchema>;
export type KnobsInput = z.input<typeof KnobsSchema>;

/** Applies `patch` (top-level keys replace) over `base` and validates the result. */
export function mergeKnobs(base: Partial<KnobsInput>, patch: Partial<KnobsInput> = {}): Knobs {
  const result = KnobsSchema.safeParse({ ...base, ...patch });
  if (!result.success) {
    const reasons = result.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new SimulatorError('INVALID_KNOBS', `invalid knobs: ${reasons.join('; ')}`, 400);
  }
  const unknown = Object.keys(patch).filter((key) => !(key in KnobsSchema.shape));
  if (unknown.length > 0) {
    throw new SimulatorError('INVALID_KNOBS', `unknown knobs: ${unknown.join(', ')}`, 400);
  }
  return result.data;
}
