import type { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { EventBusProps, IEventBus } from 'aws-cdk-lib/aws-events';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic, TopicProps } from 'aws-cdk-lib/aws-sns';
import type { FunctionName } from '../contract/index.ts';

/*
 * The props of FluxEditPipeline and their defaults. `resolve-props.ts` checks them before
 * anything is created: a bad value fails `cdk synth` with the prop's name, not a deployment.
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
