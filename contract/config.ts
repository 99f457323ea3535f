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

const whole = (fallback: number, max: number) =>
  z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(max)), fallback);

const csv = (fallback: readonly string[], lowerCase = false) =>
  z.pipe(
    z._default(z.string(), fallback.join(',')),
    z.transform((value) =>
      value
        .split(',')
        .map((item) => (lowerCase ? item.trim().toLowerCase() : item.trim()))
        .filter(Boolean),
    ),
  );

const flag = (fallback: boolean) =>
  z.pipe(
    z._default(z.enum(['true', 'false']), String(fallback) as 'true' | 'false'),
    z.transform((value) => value === 'true'),
  );

const required = () => z.string('is required').check(z.minLength(1, 'is required'));

const ConfigSchema = z.object({
  jobsTable: required(),
  pollQueueUrl: required(),
  resultQueueUrl: required(),
  outputBucket: required(),
  outputPrefix: z._default(z.string(), DEFAULTS.outputPrefix),
  topicArn: required(),
  eventBusName: required(),
  runComfyBaseUrl: z._default(z.url(), DEFAULTS.runComfyBaseUrl),
  /** Exactly one of these two: the secret in AWS, the plain token in the local runtime. */
  runComfyTokenSecretArn: z.optional(required()),
  runComfyApiToken: z.optional(required()),
  jobDeadlineSeconds: whole(DEFAULTS.jobDeadlineSeconds, 86_400),
  runOvertimeSeconds: z._default(
    z.coerce.number().check(z.int(), z.gte(0), z.lte(86_400)),
    DEFAULTS.runOvertimeSeconds,
  ),
  maxPollDelaySeconds: whole(DEFAULTS.maxPollDelaySeconds, 900),
  outputHostAllowlist: csv(DEFAULTS.outputHostAllowlist, true),
  outputMaxBytes: z._default(z.coerce.number().check(z.int(), z.gte(1)), DEFAULTS.outputMaxBytes),
  /** Plain http from loopback hosts the allowlist names: the local runtime only, never in AWS. */
  allowLoopbackHttp: flag(false),
  resultRetryWindowSeconds: whole(DEFAULTS.resultRetryWindowSeconds, 86_400),
  upstreamConcurrency: whole(DEFAULTS.upstreamConcurrency, 1_000),
  dailySpendCapUsd: z.optional(z.coerce.number().check(z.gt(0, 'must be more than 0'))),
  jobRetentionDays: whole(DEFAULTS.jobRetentionDays, 3650),
  uploadPrefix: z._default(z.string(), DEFAULTS.uploadPrefix),
  /** `bucket/prefix` entries that `s3://` inputs may name; empty means the stack's own uploads. */
  inputS3Allowlist: csv([]),
  /** How long past its deadline an active job waits before the sweeper looks after it. */
  sweepGraceSeconds: whole(DEFAULTS.sweepGraceSeconds, 86_400),
  /** Absent: webhooks are off (a request with a `webhook_url` is refused). */
  webhookQueueUrl: z.optional(required()),
  /** Absent: batches are off. */
  batchQueueUrl: z.optional(required()),
  batchChunkLines: whole(DEFAULTS.batchChunkLines, 1_000),
  /** The webhook function's signing secret: at most one of these (the secret in AWS, the value locally). */
  webhookSecretArn: z.optional(required()),
  webhookSigningSecret: z.optional(required()),
  /** e.g. `5,30,120`: seconds after the 1st, 2nd, … failed attempt; the last one repeats. */
  webhookRetryDelaysSeconds: z.pipe(
    z.pipe(
      csv(DEFAULTS.webhookRetryDelaysSeconds.map(String)),
      z.transform((items) => items.map(Number)),
    ),
    z
      .array(z.number().check(z.int('must be whole seconds'), z.gte(0), z.lte(900, 'at most 900 (SQS)')))
      .check(z.minLength(1, 'needs at least one delay')),
  ),
  webhookRetryWindowSeconds: whole(DEFAULTS.webhookRetryWindowSeconds, 7 * 86_400),
  adminScope: z.optional(z.string().check(z.regex(/^[\x21-\x7e]{1,128}$/, 'must be a JWT scope'))),
  adminPrincipals: csv([]),
  listCursorSecretArn: z.optional(required()),
  listCursorSecret: z.optional(z.string().check(z.minLength(32, 'must be at least 32 characters'))),
});

export type Config = z.infer<typeof ConfigSchema>;

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
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const names = result.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      return `${ENV[key as SettingName] ?? (key || '(root)')}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration: ${names.join('; ')}`);
  }
  const config = result.data;
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
