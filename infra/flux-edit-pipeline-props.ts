import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import type { EventBusProps, IEventBus } from 'aws-cdk-lib/aws-events';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic, TopicProps } from 'aws-cdk-lib/aws-sns';
import { DEFAULTS, type FunctionName, METRIC_IDENTITY, QUEUES } from '../contract/index.ts';
import { DEFAULT_API_THROTTLE } from './defaults/apigateway-defaults.ts';

/*
 * The props of FluxEditPipeline, their defaults, and the checks that run before anything is
 * created: a bad value fails `cdk synth` with the prop's name rather than a deployment.
 */

/**
 * How callers authenticate to the HTTP API; applied to every route. Every job belongs to its
 * caller (the JWT's issuer and subject, or the IAM principal): other callers get 404 for it, and
 * lists show only the caller's own. Admins see and act on every job.
 */
export type ApiAuthorization =
  /** SigV4-signed requests; the caller's IAM policy must allow `execute-api:Invoke` on the route. */
  | {
      readonly type: 'iam';
      /**
       * IAM principal ARNs that may act on every caller's jobs: users
       * (`arn:aws:iam::<account>:user/<name>`), roles (`arn:aws:iam::<account>:role/<name>`: every
       * session of it), or single role sessions (`arn:aws:sts::<account>:assumed-role/<role>/<session>`).
       * @default - none
       */
      readonly adminPrincipals?: string[];
    }
  /** A JWT from an OIDC issuer (Cognito, Auth0, ...), checked by API Gateway before any function runs. */
  | {
      readonly type: 'jwt';
      /** The issuer URL (`iss` claim), `https://`. */
      readonly issuer: string;
      /** Accepted audiences (`aud` claim); at least one. */
      readonly audience: string[];
      /**
       * Where the token is read from.
       * @default ['$request.header.Authorization']
       */
      readonly identitySource?: string[];
      /**
       * A scope (in the token's `scope` or `scp` claim) whose holders may act on every caller's jobs.
       * @default - none
       */
      readonly adminScope?: string;
    };

/** Stage-wide request throttling for the HTTP API. */
export interface ApiThrottle {
  /** Steady-state requests per second. */
  readonly rateLimit: number;
  /** Requests allowed in a burst above the rate. */
  readonly burstLimit: number;
}

export type PowertoolsLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/**
 * Properties of {@link FluxEditPipeline}. Every property is optional: the defaults deploy a
 * complete, private (IAM-authorised) pipeline whose only manual step is storing the RunComfy
 * token in the secret it creates.
 *
 * @example
 * new FluxEditPipeline(stack, 'Pipeline', {
 *   apiAuthorization: { type: 'jwt', issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc', audience: ['my-client'] },
 *   jobRetention: Duration.days(7),
 *   alarmTopic: opsTopic,
 * });
 */
export interface FluxEditPipelineProps {
  /**
   * RunComfy Model API base URL (`https://`).
   * @default 'https://model-api.runcomfy.net'
   */
  readonly runComfyBaseUrl?: string;
  /**
   * An existing secret holding the RunComfy API token (the whole secret string is the token).
   * The functions receive only its ARN and read it at runtime.
   * @default - a new secret with a random placeholder value; after the first deploy, store the
   *   real token: `aws secretsmanager put-secret-value --secret-id <RunComfyTokenSecretArn> --secret-string <token>`
   */
  readonly existingRunComfyTokenSecret?: ISecret;
  /**
   * An existing secret holding the webhook signing secret (`whsec_<base64>`, or base64 alone; a
   * 24–64 byte key). Only the webhook function may read it.
   * @default - a new secret with a random 36-byte key, usable at once; receivers read it from
   *   Secrets Manager (prefix it with `whsec_` for Standard Webhooks libraries)
   */
  readonly existingWebhookSigningSecret?: ISecret;
  /**
   * Delays after the 1st, 2nd, … failed webhook attempt (whole seconds, 0 to 900); the last
   * one repeats until `webhookRetryWindow` ends.
   * @default - the webhook core's schedule (5 s, 30 s, 2 min, 5 min, 15 min)
   */
  readonly webhookRetryDelays?: Duration[];
  /**
   * How long a webhook delivery keeps retrying after its first attempt (1 s to 7 days).
   * @default - the webhook core's window (24 hours)
   */
  readonly webhookRetryWindow?: Duration;
  /**
   * How long a job may wait for RunComfy before the poller gives up on it (1 s to 24 h, whole
   * seconds), counted from its admission. A run RunComfy is already running at the deadline cannot
   * be cancelled and is billed: it is waited for `runOvertime` more (see below).
   * @default Duration.minutes(15)
   */
  readonly jobDeadline?: Duration;
  /**
   * How long past the deadline a run RunComfy is already running is still waited for, its result
   * collected (0 to 24 h; 0: expire at the deadline and lose such runs' results, which are billed).
   * @default Duration.minutes(15)
   */
  readonly runOvertime?: Duration;
  /**
   * Upper bound of the poller's backoff between status checks (1 s to 900 s, SQS's longest delay).
   * @default Duration.seconds(30)
   */
  readonly maxPollDelay?: Duration;
  /**
   * Hosts the result function may download outputs from; `*.` matches any subdomain.
   * @default ['*.runcomfy.net']
   */
  readonly outputHostAllowlist?: string[];
  /**
   * Largest output image the result function copies, in bytes.
   * @default 52_428_800 (50 MiB)
   */
  readonly outputMaxBytes?: number;
  /**
   * Key prefix of the output images in the bucket (ends with `/`).
   * @default 'edits/'
   */
  readonly outputPrefix?: string;
  /**
   * Key prefix under which `POST /uploads` lets clients PUT input images (ends with `/`, and
   * neither contains nor is contained in `outputPrefix`).
   * @default 'uploads/'
   */
  readonly uploadPrefix?: string;
  /**
   * How long uploaded input images are kept (whole days, at least 1), on a bucket this construct
   * creates. Inputs are only needed until RunComfy has fetched them.
   * @default Duration.days(7)
   */
  readonly uploadRetention?: Duration;
  /**
   * `bucket/prefix/` locations that `s3://` inputs may name (`bucket/` for a whole bucket). The
   * submit and poller functions get `s3:GetObject` there, to presign GETs for RunComfy. Buckets
   * encrypted with a customer key also need `kms:Decrypt` granted by their owner.
   * @default - the pipeline's own upload prefix only
   */
  readonly inputS3Allowlist?: string[];
  /**
   * How long a job record and its output images are kept (whole days, 1 to 3650): the job
   * table's TTL and, on a bucket this construct creates, the lifecycle expiry under the prefix.
   * @default Duration.days(30)
   */
  readonly jobRetention?: Duration;
  /**
   * Retention of the functions' and the API's log groups.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Powertools log level of every function.
   * @default 'INFO'
   */
  readonly logLevel?: PowertoolsLogLevel;
  /**
   * What happens to the stateful resources (table, buckets, secret, log groups) when they leave
   * the stack. `DESTROY` also lifts the table's deletion protection; a non-empty bucket still
   * fails to delete.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Reserved concurrency per function. A queue consumer's value must be at least its queue's
   * `maxConcurrency`, or the mapping would be throttled.
   * @default - none (functions share the account's unreserved concurrency)
   */
  readonly reservedConcurrency?: Partial<Record<FunctionName, number>>;
  /**
   * Stage-wide throttling of the HTTP API.
   * @default { rateLimit: 50, burstLimit: 100 }
   */
  readonly apiThrottle?: ApiThrottle;
  /**
   * How callers authenticate; applies to every route.
   * @default { type: 'iam' }
   */
  readonly apiAuthorization?: ApiAuthorization;
  /**
   * A customer-managed KMS key for the table, queues, and the topic and bucket this construct
   * creates (it does not re-encrypt existing ones). The functions get encrypt/decrypt on it.
   * @default - AWS-managed keys: DynamoDB `aws/dynamodb`, SQS-managed SSE, SNS `alias/aws/sns`, SSE-S3
   */
  readonly encryptionKey?: IKey;
  /**
   * An existing bucket for the output images. Lifecycle, versioning and access logging are then
   * the bucket owner's to configure.
   * @default - a new private, TLS-only, encrypted, access-logged bucket
   */
  readonly existingOutputBucket?: IBucket;
  /**
   * Version the new output bucket (noncurrent versions expire after a day).
   * @default false
   */
  readonly outputBucketVersioned?: boolean;
  /**
   * Where the new output bucket writes its server access logs.
   * @default - a new private, TLS-only log bucket expiring logs after 365 days
   */
  readonly accessLogsBucket?: IBucket;
  /**
   * An existing topic for completion notifications. If it is encrypted with a customer key, grant
   * the functions `kms:GenerateDataKey` and `kms:Decrypt` on it yourself.
   * @default - a new topic (see `notificationTopicProps`)
   */
  readonly existingNotificationTopic?: ITopic;
  /**
   * Properties of the new topic, over the secure defaults (KMS with `alias/aws/sns`, TLS-only).
   * @default - the secure defaults
   */
  readonly notificationTopicProps?: TopicProps;
  /**
   * An existing EventBridge bus for completion events.
   * @default - a new bus (see `eventBusProps`)
   */
  readonly existingEventBus?: IEventBus;
  /**
   * Properties of the new bus.
   * @default - a bus with a generated name
   */
  readonly eventBusProps?: EventBusProps;
  /**
   * Where the alarms send ALARM and OK notifications. CloudWatch cannot publish to a topic
   * encrypted with the AWS-managed SNS key; use an unencrypted or customer-key topic.
   * @default - alarms without actions (visible in the console and on the dashboard)
   */
  readonly alarmTopic?: ITopic;
  /**
   * Alarm when the poll queue's oldest message is older than this. Poll messages are re-sent with
   * at most `maxPollDelay` of delay, so an old one means the poller is not keeping up.
   * @default Duration.minutes(5)
   */
  readonly pollQueueAgeAlarmThreshold?: Duration;
  /**
   * At most this many jobs in flight at RunComfy at once, across all function instances: the
   * rest wait in line (interactive edits before batch lines). RunComfy answering 429 lowers it for
   * a while. Raise it to your RunComfy account's concurrency.
   * @default 20
   */
  readonly upstreamConcurrency?: number;
  /**
   * A cap on what RunComfy charges per UTC day, in USD: once reached, new submissions get
   * `429 SPEND_CAP_REACHED` (with the reset time) until the next day, and jobs already running
   * finish. RunComfy's `cost` per run is recorded on each job.
   * @default - no cap
   */
  readonly dailySpendCap?: number;
  /**
   * Alarm when a finished run's result has waited this long in the result queue: RunComfy has
   * finished (and charged) the run, and the pipeline is slow to collect it.
   * @default Duration.minutes(10)
   */
  readonly resultQueueAgeAlarmThreshold?: Duration;
  /**
   * How long a finished run's collection is retried (the result not readable yet, an output that
   * answers 404/403 while the file host catches up, resets) before the job ends
   * `OUTPUT_COPY_FAILED` or `RESULT_HANDOVER_FAILED`. Counted from the first attempt; waiting in
   * the pipeline's own queue does not count as a failed attempt.
   * @default Duration.minutes(15)
   */
  readonly resultRetryWindow?: Duration;
  /**
   * Alarm when at least this many jobs fail within five minutes.
   * @default 1
   */
  readonly failedJobsAlarmThreshold?: number;
  /**
   * Powertools service name (the `service` dimension of every metric).
   * @default 'flux-edit-pipeline'
   */
  readonly serviceName?: string;
  /**
   * CloudWatch namespace of the functions' Powertools metrics.
   * @default 'FluxEditPipeline'
   */
  readonly metricsNamespace?: string;
}

/** A property combination or value the construct cannot deploy. */
export class FluxEditPipelinePropsError extends Error {
  readonly code = 'INVALID_PIPELINE_PROPS';
  constructor(message: string) {
    super(`FluxEditPipeline: ${message}`);
    this.name = 'FluxEditPipelinePropsError';
  }
}

/** The props with every default applied and every value checked. */
export interface ResolvedProps {
  runComfyBaseUrl: string;
  jobDeadlineSeconds: number;
  runOvertimeSeconds: number;
  maxPollDelaySeconds: number;
  outputHostAllowlist: string[];
  outputMaxBytes: number;
  outputPrefix: string;
  uploadPrefix: string;
  uploadRetentionDays: number;
  inputS3Allowlist?: { bucket: string; prefix: string }[];
  webhookRetryDelaysSeconds?: number[];
  webhookRetryWindowSeconds?: number;
  jobRetentionDays: number;
  logRetention: RetentionDays;
  logLevel: PowertoolsLogLevel;
  removalPolicy: RemovalPolicy;
  apiThrottle: ApiThrottle;
  apiAuthorization: ApiAuthorization;
  adminScope?: string;
  adminPrincipals: string[];
  pollQueueAgeAlarmSeconds: number;
  resultQueueAgeAlarmSeconds: number;
  resultRetryWindowSeconds: number;
  upstreamConcurrency: number;
  dailySpendCapUsd?: number;
  failedJobsAlarmThreshold: number;
  serviceName: string;
  metricsNamespace: string;
}

function fail(message: string): never {
  throw new FluxEditPipelinePropsError(message);
}

function boundedInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max)
    fail(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  return value;
}

function positiveAmount(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) fail(`${name} must be a positive number of USD, got ${value}`);
  return value;
}

function wholeSeconds(name: string, value: Duration, min: number, max: number): number {
  if (Token.isUnresolved(value.toString())) fail(`${name} must be a literal duration, not a token`);
  const seconds = value.toSeconds({ integral: false });
  if (!Number.isInteger(seconds) || seconds < min || seconds > max) {
    fail(`${name} must be a whole number of seconds from ${min} to ${max}, got ${seconds}`);
  }
  return seconds;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) fail(`${name} must be a positive integer, got ${value}`);
  return value;
}

function httpsUrl(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(`${name} must be an absolute URL, got '${value}'`);
  }
  if (url.protocol !== 'https:') fail(`${name} must use https, got '${value}'`);
  return value;
}

function keyPrefix(name: string, value: string): string {
  if (!/^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*\/$/.test(value)) {
    fail(`${name} must be a relative key prefix ending in '/', like 'edits/', got '${value}'`);
  }
  return value;
}

function exclusive(
  props: FluxEditPipelineProps,
  existing: keyof FluxEditPipelineProps,
  others: (keyof FluxEditPipelineProps)[],
) {
  if (props[existing] === undefined) return;
  for (const other of others) {
    if (props[other] !== undefined) {
      fail(
        `${existing} and ${other} are mutually exclusive: ${other} configures a resource this construct creates`,
      );
    }
  }
}

/** Checks every prop up front, so a bad value fails `cdk synth` with its name, not a deploy. */
export function resolveProps(props: FluxEditPipelineProps): ResolvedProps {
  exclusive(props, 'existingOutputBucket', ['outputBucketVersioned', 'accessLogsBucket']);
  exclusive(props, 'existingNotificationTopic', ['notificationTopicProps']);
  exclusive(props, 'existingEventBus', ['eventBusProps']);

  const jobDeadlineSeconds = wholeSeconds(
    'jobDeadline',
    props.jobDeadline ?? Duration.seconds(DEFAULTS.jobDeadlineSeconds),
    1,
    86_400,
  );
  const runOvertimeSeconds = wholeSeconds(
    'runOvertime',
    props.runOvertime ?? Duration.seconds(DEFAULTS.runOvertimeSeconds),
    0,
    86_400,
  );
  const maxPollDelaySeconds = wholeSeconds(
    'maxPollDelay',
    props.maxPollDelay ?? Duration.seconds(DEFAULTS.maxPollDelaySeconds),
    1,
    900,
  );
  const jobRetentionSeconds = wholeSeconds(
    'jobRetention',
    props.jobRetention ?? Duration.days(DEFAULTS.jobRetentionDays),
    86_400,
    3650 * 86_400,
  );
  if (jobRetentionSeconds % 86_400 !== 0) fail('jobRetention must be a whole number of days');
  const pollQueueAgeAlarmSeconds = wholeSeconds(
    'pollQueueAgeAlarmThreshold',
    props.pollQueueAgeAlarmThreshold ?? Duration.minutes(5),
    60,
    QUEUES.poll.retentionDays * 86_400,
  );
  if (pollQueueAgeAlarmSeconds <= maxPollDelaySeconds) {
    fail('pollQueueAgeAlarmThreshold must be longer than maxPollDelay, or every delayed poll would alarm');
  }
  const resultQueueAgeAlarmSeconds = wholeSeconds(
    'resultQueueAgeAlarmThreshold',
    props.resultQueueAgeAlarmThreshold ?? Duration.minutes(10),
    60,
    QUEUES.result.retentionDays * 86_400,
  );
  const resultRetryWindowSeconds = wholeSeconds(
    'resultRetryWindow',
    props.resultRetryWindow ?? Duration.seconds(DEFAULTS.resultRetryWindowSeconds),
    60,
    86_400,
  );

  const outputHostAllowlist = props.outputHostAllowlist ?? [...DEFAULTS.outputHostAllowlist];
  if (outputHostAllowlist.length === 0) fail('outputHostAllowlist must name at least one host');
  for (const host of outputHostAllowlist) {
    if (!/^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*$/i.test(host)) {
      fail(`outputHostAllowlist entries must be host names or '*.domain' patterns, got '${host}'`);
    }
  }

  const outputPrefix = keyPrefix('outputPrefix', props.outputPrefix ?? DEFAULTS.outputPrefix);
  const uploadPrefix = keyPrefix('uploadPrefix', props.uploadPrefix ?? DEFAULTS.uploadPrefix);
  if (outputPrefix.startsWith(uploadPrefix) || uploadPrefix.startsWith(outputPrefix)) {
    fail(
      `outputPrefix '${outputPrefix}' and uploadPrefix '${uploadPrefix}' must not overlap: their grants and expiry differ`,
    );
  }
  const uploadRetentionSeconds = wholeSeconds(
    'uploadRetention',
    props.uploadRetention ?? Duration.days(DEFAULTS.uploadRetentionDays),
    86_400,
    3650 * 86_400,
  );
  if (uploadRetentionSeconds % 86_400 !== 0) fail('uploadRetention must be a whole number of days');
  const inputS3Allowlist = props.inputS3Allowlist?.map((entry) => {
    const match = /^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/((?:[A-Za-z0-9!_.*'()-]+\/)*)$/.exec(entry);
    if (!match) fail(`inputS3Allowlist entries must be 'bucket/' or 'bucket/prefix/', got '${entry}'`);
    return { bucket: match[1]!, prefix: match[2]! };
  });
  if (inputS3Allowlist?.length === 0)
    fail('inputS3Allowlist must name at least one location (omit it for the upload prefix)');

  for (const [name, value] of Object.entries(props.reservedConcurrency ?? {})) {
    positiveInteger(`reservedConcurrency.${name}`, value);
  }
  for (const [queue, definition] of Object.entries(QUEUES)) {
    const reserved = props.reservedConcurrency?.[definition.consumer];
    if (reserved !== undefined && reserved < definition.maxConcurrency) {
      fail(
        `reservedConcurrency.${definition.consumer} (${reserved}) must be at least the ${queue} queue's maxConcurrency (${definition.maxConcurrency})`,
      );
    }
  }

  const webhookRetryDelaysSeconds = props.webhookRetryDelays?.map((delay, index) =>
    wholeSeconds(`webhookRetryDelays[${index}]`, delay, 0, 900),
  );
  if (webhookRetryDelaysSeconds?.length === 0) fail('webhookRetryDelays must hold at least one delay');
  const webhookRetryWindowSeconds =
    props.webhookRetryWindow && wholeSeconds('webhookRetryWindow', props.webhookRetryWindow, 1, 7 * 86_400);

  const apiThrottle = props.apiThrottle ?? DEFAULT_API_THROTTLE;
  if (
    !(apiThrottle.rateLimit > 0) ||
    !Number.isInteger(apiThrottle.burstLimit) ||
    apiThrottle.burstLimit < 0
  ) {
    fail('apiThrottle needs rateLimit > 0 and an integer burstLimit >= 0');
  }

  const apiAuthorization = props.apiAuthorization ?? { type: 'iam' };
  const adminScope = apiAuthorization.type === 'jwt' ? apiAuthorization.adminScope : undefined;
  if (adminScope !== undefined && !/^[\x21-\x7e]{1,128}$/.test(adminScope)) {
    fail('apiAuthorization.adminScope must be a scope name: 1-128 visible ASCII characters');
  }
  const adminPrincipals =
    apiAuthorization.type === 'iam' ? [...(apiAuthorization.adminPrincipals ?? [])] : [];
  for (const principal of adminPrincipals) {
    if (!/^arn:aws[a-z-]*:(iam|sts)::\d{12}:.+$/.test(principal)) {
      fail(`apiAuthorization.adminPrincipals entries must be IAM or STS principal ARNs, got '${principal}'`);
    }
  }
  if (apiAuthorization.type === 'jwt') {
    httpsUrl('apiAuthorization.issuer', apiAuthorization.issuer);
    if (apiAuthorization.audience.length === 0)
      fail('apiAuthorization.audience must name at least one audience');
  }

  return {
    runComfyBaseUrl: httpsUrl('runComfyBaseUrl', props.runComfyBaseUrl ?? DEFAULTS.runComfyBaseUrl),
    jobDeadlineSeconds,
    runOvertimeSeconds,
    maxPollDelaySeconds,
    outputHostAllowlist,
    outputMaxBytes: positiveInteger('outputMaxBytes', props.outputMaxBytes ?? DEFAULTS.outputMaxBytes),
    outputPrefix,
    uploadPrefix,
    uploadRetentionDays: uploadRetentionSeconds / 86_400,
    inputS3Allowlist,
    webhookRetryDelaysSeconds,
    webhookRetryWindowSeconds,
    jobRetentionDays: jobRetentionSeconds / 86_400,
    logRetention: props.logRetention ?? RetentionDays.ONE_MONTH,
    logLevel: props.logLevel ?? 'INFO',
    removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    apiThrottle,
    apiAuthorization,
    ...(adminScope ? { adminScope } : {}),
    adminPrincipals,
    pollQueueAgeAlarmSeconds,
    resultQueueAgeAlarmSeconds,
    resultRetryWindowSeconds,
    upstreamConcurrency: boundedInteger(
      'upstreamConcurrency',
      props.upstreamConcurrency ?? DEFAULTS.upstreamConcurrency,
      1,
      1_000,
    ),
    ...(props.dailySpendCap === undefined
      ? {}
      : { dailySpendCapUsd: positiveAmount('dailySpendCap', props.dailySpendCap) }),
    failedJobsAlarmThreshold: positiveInteger(
      'failedJobsAlarmThreshold',
      props.failedJobsAlarmThreshold ?? 1,
    ),
    serviceName: props.serviceName ?? METRIC_IDENTITY.serviceName,
    metricsNamespace: props.metricsNamespace ?? METRIC_IDENTITY.namespace,
  };
}
