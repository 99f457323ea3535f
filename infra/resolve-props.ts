import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DEFAULTS, METRIC_IDENTITY, QUEUES } from '../contract/index.ts';
import { DEFAULT_API_THROTTLE } from './defaults/apigateway-defaults.ts';
import type {
  ApiAuthorization,
  ApiThrottle,
  FluxEditPipelineProps,
  PowertoolsLogLevel,
} from './flux-edit-pipeline-props.ts';

/*
 * FluxEditPipeline's props with their defaults applied and every value checked, before anything
 * is created: a bad value fails `cdk synth` with the prop's name rather than a deployment.
 */

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
