import * as z from 'zod/mini';
import { ENV, SWEEPER } from '../../infra/definition.ts';
import { ConfigError } from './errors.ts';
import { toFieldIssues } from './validation.ts';
import { DEFAULT_RETRY_DELAYS_SECONDS, DEFAULT_RETRY_WINDOW_SECONDS } from './webhooks/delivery.ts';

const seconds = (fallback: number, max: number) =>
  z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(max)), fallback);

const csv = (fallback: string, lowerCase = false) =>
  z.pipe(
    z._default(z.string(), fallback),
    z.transform((value) =>
      value
        .split(',')
        .map((item) => (lowerCase ? item.trim().toLowerCase() : item.trim()))
        .filter(Boolean),
    ),
  );

const required = () => z.string('is required').check(z.minLength(1, 'is required'));

const ConfigSchema = z.object({
  jobsTable: required(),
  pollQueueUrl: required(),
  resultQueueUrl: required(),
  outputBucket: required(),
  outputPrefix: z._default(z.string(), 'edits/'),
  topicArn: required(),
  eventBusName: required(),
  runComfyBaseUrl: z._default(z.url(), 'https://model-api.runcomfy.net'),
  /** Exactly one of these two: the secret in AWS, the plain token in the local runtime. */
  runComfyTokenSecretArn: z.optional(required()),
  runComfyApiToken: z.optional(required()),
  jobDeadlineSeconds: seconds(900, 86_400),
  maxPollDelaySeconds: seconds(30, 900),
  outputHostAllowlist: csv('*.runcomfy.net', true),
  outputMaxBytes: z._default(z.coerce.number().check(z.int(), z.gte(1)), 50 * 1024 * 1024),
  allowLoopbackHttp: z.pipe(
    z._default(z.enum(['true', 'false']), 'false'),
    z.transform((flag) => flag === 'true'),
  ),
  jobRetentionDays: seconds(30, 3650),
  uploadPrefix: z._default(z.string(), 'uploads/'),
  /** `bucket/prefix` entries that `s3://` inputs may name; empty means the stack's own uploads. */
  inputS3Allowlist: csv(''),
  /** How long past its deadline an active job waits before the sweeper ends it. */
  sweepGraceSeconds: seconds(SWEEPER.graceSeconds, 86_400),
  /** Absent: webhooks are off (a request with a `webhook_url` is refused). */
  webhookQueueUrl: z.optional(required()),
  /** The webhook function's signing secret: at most one of these (the secret in AWS, the value locally). */
  webhookSecretArn: z.optional(required()),
  webhookSigningSecret: z.optional(required()),
  /** e.g. `5,30,120`: seconds after the 1st, 2nd, … failed attempt; the last one repeats. */
  webhookRetryDelaysSeconds: z.pipe(
    z.pipe(
      csv(DEFAULT_RETRY_DELAYS_SECONDS.join(',')),
      z.transform((items) => items.map(Number)),
    ),
    z
      .array(z.number().check(z.int('must be whole seconds'), z.gte(0), z.lte(900, 'at most 900 (SQS)')))
      .check(z.minLength(1, 'needs at least one delay')),
  ),
  webhookRetryWindowSeconds: seconds(DEFAULT_RETRY_WINDOW_SECONDS, 7 * 86_400),
});

export type Config = z.infer<typeof ConfigSchema>;

/**
 * Reads and validates the function's configuration from the environment once per container.
 * A bad value fails the cold start with the names of the bad variables (never their values,
 * which may be secrets).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw = Object.fromEntries(
    Object.entries(ENV).map(([key, name]) => [key, env[name] === '' ? undefined : env[name]]),
  );
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const names = toFieldIssues(result.error.issues).map(
      (issue) => `${ENV[issue.path as keyof typeof ENV] ?? issue.path}: ${issue.message}`,
    );
    throw new ConfigError(`invalid configuration: ${names.join('; ')}`);
  }
  const config = result.data;
  if (config.inputS3Allowlist.length === 0) {
    config.inputS3Allowlist = [`${config.outputBucket}/${config.uploadPrefix}`];
  }
  if (!config.runComfyTokenSecretArn === !config.runComfyApiToken) {
    throw new ConfigError(`set exactly one of ${ENV.runComfyTokenSecretArn} and ${ENV.runComfyApiToken}`);
  }
  if (config.webhookSecretArn && config.webhookSigningSecret) {
    throw new ConfigError(`set at most one of ${ENV.webhookSecretArn} and ${ENV.webhookSigningSecret}`);
  }
  return config;
}
