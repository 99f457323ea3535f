import * as z from 'zod/mini';

/**
 * The functions' settings: the environment variable behind each, its parsing and its default,
 * written once. The construct sets these variables (`toEnvironment`), the local runtime passes
 * the same ones through, and every function validates them at cold start (`loadConfig`): a bad
 * value fails fast with the variable's name, never its value (which may be a secret).
 */
export const ENV = {
  jobsTable: 'JOBS_TABLE',
  pollQueueUrl: 'POLL_QUEUE_URL',
  resultQueueUrl: 'RESULT_QUEUE_URL',
  outputBucket: 'OUTPUT_BUCKET',
  outputPrefix: 'OUTPUT_PREFIX',
  topicArn: 'TOPIC_ARN',
  eventBusName: 'EVENT_BUS_NAME',
  runComfyBaseUrl: 'RUNCOMFY_BASE_URL',
  runComfyTokenSecretArn: 'RUNCOMFY_TOKEN_SECRET_ARN',
  runComfyApiToken: 'RUNCOMFY_API_TOKEN',
  jobDeadlineSeconds: 'JOB_DEADLINE_SECONDS',
  /** How long a run RunComfy is already running at the deadline is still waited for (0: never). */
  runOvertimeSeconds: 'RUN_OVERTIME_SECONDS',
  maxPollDelaySeconds: 'MAX_POLL_DELAY_SECONDS',
  outputHostAllowlist: 'OUTPUT_HOST_ALLOWLIST',
  outputMaxBytes: 'OUTPUT_MAX_BYTES',
  allowLoopbackHttp: 'ALLOW_LOOPBACK_HTTP_OUTPUTS',
  resultRetryWindowSeconds: 'RESULT_RETRY_WINDOW_SECONDS',
  jobRetentionDays: 'JOB_RETENTION_DAYS',
  uploadPrefix: 'UPLOAD_PREFIX',
  inputS3Allowlist: 'INPUT_S3_ALLOWLIST',
  sweepGraceSeconds: 'SWEEP_GRACE_SECONDS',
  /** Unset: webhooks are off and a request with a `webhook_url` is refused. */
  webhookQueueUrl: 'WEBHOOK_QUEUE_URL',
  /** Unset: batches are off (`POST /batches` answers 503). */
  batchQueueUrl: 'BATCH_QUEUE_URL',
  /** Lines of a batch one message of the batch queue makes the jobs of. */
  batchChunkLines: 'BATCH_CHUNK_LINES',
  /** The webhook function's signing secret: the ARN in AWS, the `whsec_` value in the local runtime. */
  webhookSecretArn: 'WEBHOOK_SECRET_ARN',
  webhookSigningSecret: 'WEBHOOK_SIGNING_SECRET',
  webhookRetryDelaysSeconds: 'WEBHOOK_RETRY_DELAYS_SECONDS',
  webhookRetryWindowSeconds: 'WEBHOOK_RETRY_WINDOW_SECONDS',
  /** Jobs in flight at RunComfy at most, across all function instances (admission control). */
  upstreamConcurrency: 'UPSTREAM_CONCURRENCY',
  /** A spend cap per UTC day, in USD: once reached, new submissions are refused until the next day. */
  dailySpendCapUsd: 'DAILY_SPEND_CAP_USD',
  /** A JWT scope whose holders see and act on every caller's jobs. */
  adminScope: 'ADMIN_SCOPE',
  /** IAM principal ARNs that see and act on every caller's jobs. */
  adminPrincipals: 'ADMIN_PRINCIPALS',
  /** The key that signs `GET /edits` cursors: the secret's ARN in AWS, the value in the local runtime. */
  listCursorSecretArn: 'LIST_CURSOR_SECRET_ARN',
  listCursorSecret: 'LIST_CURSOR_SECRET',
} as const;

export type SettingName = keyof typeof ENV;

/** Every default, once: the construct's props and the functions' config both start from these. */
export const DEFAULTS = {
  runComfyBaseUrl: 'https://model-api.runcomfy.net',
  outputPrefix: 'edits/',
  uploadPrefix: 'uploads/',
  jobDeadlineSeconds: 900,
  /**
   * RunComfy cancels queued requests only: a run in progress at the deadline will be billed, so
   * its result is still waited for this long before the job expires.
   */
  runOvertimeSeconds: 900,
  maxPollDelaySeconds: 30,
  outputHostAllowlist: ['*.runcomfy.net'],
  outputMaxBytes: 50 * 1024 * 1024,
  /**
   * How long a finished run's outputs are retried (404 while the file host catches up, 403,
   * resets, 5xx) before the job ends `OUTPUT_COPY_FAILED`: a paid result is not given up early.
   */
  resultRetryWindowSeconds: 900,
  /**
   * Jobs in flight at RunComfy at most. RunComfy documents no limit; Black Forest Labs' own API,
   * the closest documented one, allows 24 concurrent tasks per account: 20 stays under that.
   */
  upstreamConcurrency: 20,
  jobRetentionDays: 30,
  uploadRetentionDays: 7,
  sweepGraceSeconds: 300,
  webhookRetryDelaysSeconds: [5, 30, 120, 300, 900],
  webhookRetryWindowSeconds: 24 * 3600,
  /** 500 lines make their jobs in a few seconds: far inside the batch function's timeout. */
  batchChunkLines: 500,
} as const;

export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';
  readonly code = 'CONFIG_INVALID';
}

/*
 * The settings are parsed by hand, not by a zod schema: every function parses them at cold start,
 * where the schema (about 700 zod constructions, then its first parse) took ~8 ms, a third of what
 * the poller's init added to its SDK clients' (`npm run bench -- --only cold-start`). The rules
 * and messages are the schema's (`z.coerce.number()`, `z.int()`, `z.gte()`, …); the base URL is
 * still `z.url()`'s. Each parser returns the value, or the messages of what is wrong with it.
 */
type Parsed<T> = { value: T } | { issues: string[] };
type Parser<T> = (input: string | undefined) => Parsed<T>;

const ok = <T>(value: T): Parsed<T> => ({ value });
const bad = (...issues: string[]): Parsed<never> => ({ issues });
const INVALID = 'Invalid input';

/**
 * `z.coerce.number()` and its checks, with zod's outcomes: a value that is not a finite number,
 * or not whole where `int` is asked, fails alone; the range checks each add their issue. Without a
 * message of its own an issue reads "Invalid input", as zod/mini's did (it loads no locale).
 */
function numberRule(
  input: string,
  rule: { int?: string; min?: number; exclusiveMin?: string; max?: number; maxMessage?: string },
): Parsed<number> {
  const value = Number(input);
  if (!Number.isFinite(value)) return bad(INVALID);
  if (rule.int !== undefined && !Number.isInteger(value)) return bad(rule.int);
  const issues: string[] = [];
  if (rule.int !== undefined && !Number.isSafeInteger(value)) issues.push(rule.int);
  if (rule.min !== undefined && value < rule.min) issues.push(INVALID);
  if (rule.exclusiveMin !== undefined && value <= 0) issues.push(rule.exclusiveMin);
  if (rule.max !== undefined && value > rule.max) issues.push(rule.maxMessage ?? INVALID);
  return issues.length > 0 ? bad(...issues) : ok(value);
}

const withDefault =
  <T>(fallback: T, parse: (input: string) => Parsed<T>): Parser<T> =>
  (input) =>
    input === undefined ? ok(fallback) : parse(input);

const optional =
  <T>(parse: (input: string) => Parsed<T>): Parser<T | undefined> =>
  (input) =>
    input === undefined ? ok(undefined) : parse(input);

const text = (input: string) => ok(input);

/** A whole number from 1 to `max`. */
const whole = (fallback: number, max: number) =>
  withDefault(fallback, (input) => numberRule(input, { int: INVALID, min: 1, max }));

const splitCsv = (value: string, lowerCase: boolean) =>
  value
    .split(',')
    .map((item) => (lowerCase ? item.trim().toLowerCase() : item.trim()))
    .filter(Boolean);

const csv = (fallback: readonly string[], lowerCase = false): Parser<string[]> => {
  const joined = fallback.join(',');
  return (input) => ok(splitCsv(input ?? joined, lowerCase));
};

const flag =
  (fallback: boolean): Parser<boolean> =>
  (input) => {
    if (input === undefined) return ok(fallback);
    return input === 'true' || input === 'false' ? ok(input === 'true') : bad(INVALID);
  };

const required: Parser<string> = (input) => (input ? ok(input) : bad('is required'));

let urlSchema: z.ZodMiniURL | undefined;
/** `z.url()`'s own check (and its normalisation: trimmed, tabs and line breaks removed). */
const url = (input: string): Parsed<string> => {
  urlSchema ??= z.url();
  const result = urlSchema.safeParse(input);
  return result.success ? ok(result.data) : bad(...result.error.issues.map((issue) => issue.message));
};

const delays = (input: string): Parsed<number[]> => {
  const items = splitCsv(input, false);
  if (items.length === 0) return bad('needs at least one delay');
  const values: number[] = [];
  const issues: string[] = [];
  for (const item of items) {
    const parsed = numberRule(item, {
      int: 'must be whole seconds',
      min: 0,
      max: 900,
      maxMessage: 'at most 900 (SQS)',
    });
    if ('issues' in parsed) issues.push(...parsed.issues);
    else values.push(parsed.value);
  }
  return issues.length > 0 ? bad(...issues) : ok(values);
};

const JWT_SCOPE = /^[\x21-\x7e]{1,128}$/;

/** Each setting's parser (a bad value's messages are reported in this order). */
const SETTINGS = {
  jobsTable: required,
  pollQueueUrl: required,
  resultQueueUrl: required,
  outputBucket: required,
  outputPrefix: withDefault<string>(DEFAULTS.outputPrefix, text),
  topicArn: required,
  eventBusName: required,
  runComfyBaseUrl: withDefault<string>(DEFAULTS.runComfyBaseUrl, url),
  /** Exactly one of these two: the secret in AWS, the plain token in the local runtime. */
  runComfyTokenSecretArn: optional(text),
  runComfyApiToken: optional(text),
  jobDeadlineSeconds: whole(DEFAULTS.jobDeadlineSeconds, 86_400),
  runOvertimeSeconds: withDefault(DEFAULTS.runOvertimeSeconds, (input) =>
    numberRule(input, { int: INVALID, min: 0, max: 86_400 }),
  ),
  maxPollDelaySeconds: whole(DEFAULTS.maxPollDelaySeconds, 900),
  outputHostAllowlist: csv(DEFAULTS.outputHostAllowlist, true),
  outputMaxBytes: withDefault(DEFAULTS.outputMaxBytes, (input) =>
    numberRule(input, { int: INVALID, min: 1 }),
  ),
  /** Plain http from loopback hosts the allowlist names: the local runtime only, never in AWS. */
  allowLoopbackHttp: flag(false),
  resultRetryWindowSeconds: whole(DEFAULTS.resultRetryWindowSeconds, 86_400),
  upstreamConcurrency: whole(DEFAULTS.upstreamConcurrency, 1_000),
  dailySpendCapUsd: optional((input) => numberRule(input, { exclusiveMin: 'must be more than 0' })),
  jobRetentionDays: whole(DEFAULTS.jobRetentionDays, 3650),
  uploadPrefix: withDefault<string>(DEFAULTS.uploadPrefix, text),
  /** `bucket/prefix` entries that `s3://` inputs may name; empty means the stack's own uploads. */
  inputS3Allowlist: csv([]),
  /** How long past its deadline an active job waits before the sweeper looks after it. */
  sweepGraceSeconds: whole(DEFAULTS.sweepGraceSeconds, 86_400),
  /** Absent: webhooks are off (a request with a `webhook_url` is refused). */
  webhookQueueUrl: optional(text),
  /** Absent: batches are off. */
  batchQueueUrl: optional(text),
  batchChunkLines: whole(DEFAULTS.batchChunkLines, 1_000),
  /** The webhook function's signing secret: at most one of these (the secret in AWS, the value locally). */
  webhookSecretArn: optional(text),
  webhookSigningSecret: optional(text),
  /** e.g. `5,30,120`: seconds after the 1st, 2nd, … failed attempt; the last one repeats. */
  webhookRetryDelaysSeconds: withDefault<number[]>([...DEFAULTS.webhookRetryDelaysSeconds], delays),
  webhookRetryWindowSeconds: whole(DEFAULTS.webhookRetryWindowSeconds, 7 * 86_400),
  adminScope: optional((input) => (JWT_SCOPE.test(input) ? ok(input) : bad('must be a JWT scope'))),
  adminPrincipals: csv([]),
  listCursorSecretArn: optional(text),
  listCursorSecret: optional((input) =>
    input.length >= 32 ? ok(input) : bad('must be at least 32 characters'),
  ),
} satisfies Record<SettingName, Parser<unknown>>;

type Settings = typeof SETTINGS;
export type Config = {
  -readonly [K in SettingName]: Settings[K] extends Parser<infer T> ? T : never;
};

/**
 * Reads and validates the settings from the environment, once per container. A bad value fails
 * with the names of the bad variables, never their values.
 *
 * @example
 * const config = loadConfig(); // throws ConfigError('invalid configuration: JOBS_TABLE: is required')
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const raw = Object.fromEntries(
    Object.entries(ENV).map(([key, name]) => [key, env[name] === '' ? undefined : env[name]]),
  );
  const values: Partial<Record<SettingName, unknown>> = {};
  const names: string[] = [];
  for (const [key, parse] of Object.entries(SETTINGS) as [SettingName, Parser<unknown>][]) {
    const parsed = parse(raw[key]);
    if ('issues' in parsed) names.push(...parsed.issues.map((message) => `${ENV[key]}: ${message}`));
    else values[key] = parsed.value;
  }
  if (names.length > 0) throw new ConfigError(`invalid configuration: ${names.join('; ')}`);
  const config = values as Config;
  if (config.inputS3Allowlist.length === 0) {
    config.inputS3Allowlist = [`${config.outputBucket}/${config.uploadPrefix}`];
  }
  if (!config.runComfyTokenSecretArn === !config.runComfyApiToken) {
    throw new ConfigError(`set exactly one of ${ENV.runComfyTokenSecretArn} and ${ENV.runComfyApiToken}`);
  }
  if (config.listCursorSecretArn && config.listCursorSecret) {
    throw new ConfigError(`set at most one of ${ENV.listCursorSecretArn} and ${ENV.listCursorSecret}`);
  }
  if (config.webhookSecretArn && config.webhookSigningSecret) {
    throw new ConfigError(`set at most one of ${ENV.webhookSecretArn} and ${ENV.webhookSigningSecret}`);
  }
  return config;
}

type SettingValue = string | number | boolean | readonly (string | number)[];

/**
 * The environment that carries `settings`: what the construct gives each function and the local
 * runtime sets. Lists become comma-separated, numbers and flags their text; unset ones are left out.
 */
export function toEnvironment(settings: Partial<Record<SettingName, SettingValue | undefined>>) {
  const environment: Record<string, string> = {};
  for (const [key, value] of Object.entries(settings)) {
    if (value === undefined) continue;
    environment[ENV[key as SettingName]] = Array.isArray(value) ? value.join(',') : String(value);
  }
  return environment;
}
