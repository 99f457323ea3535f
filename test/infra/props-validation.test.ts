import { App, Duration, Stack } from 'aws-cdk-lib';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import {
  FluxEditPipeline,
  type FluxEditPipelineProps,
  FluxEditPipelinePropsError,
  resolveProps,
} from '../../infra/flux-edit-pipeline.ts';

const stack = new Stack(new App(), 'Scope');
const bucket = Bucket.fromBucketName(stack, 'Bucket', 'existing-outputs');
const topic = Topic.fromTopicArn(stack, 'Topic', 'arn:aws:sns:eu-west-1:111111111111:existing');
const bus = EventBus.fromEventBusName(stack, 'Bus', 'existing-bus');

describe('Function: resolveProps', () => {
  it('applies the documented defaults', () => {
    // Act
    const resolved = resolveProps({});

    // Assess
    expect(resolved).toMatchObject({
      runComfyBaseUrl: 'https://model-api.runcomfy.net',
      jobDeadlineSeconds: 900,
      maxPollDelaySeconds: 30,
      outputHostAllowlist: ['*.runcomfy.net'],
      outputMaxBytes: 50 * 1024 * 1024,
      outputPrefix: 'edits/',
      uploadPrefix: 'uploads/',
      uploadRetentionDays: 7,
      jobRetentionDays: 30,
      logLevel: 'INFO',
      apiThrottle: { rateLimit: 50, burstLimit: 100 },
      apiAuthorization: { type: 'iam' },
      pollQueueAgeAlarmSeconds: 300,
      failedJobsAlarmThreshold: 1,
    });
    expect(resolved.inputS3Allowlist).toBeUndefined();
  });

  it.each<[string, FluxEditPipelineProps, RegExp]>([
    [
      'existing bucket with versioning',
      { existingOutputBucket: bucket, outputBucketVersioned: true },
      /existingOutputBucket and outputBucketVersioned are mutually exclusive/,
    ],
    [
      'existing bucket with a log bucket',
      { existingOutputBucket: bucket, accessLogsBucket: bucket },
      /existingOutputBucket and accessLogsBucket/,
    ],
    [
      'existing topic with topic props',
      { existingNotificationTopic: topic, notificationTopicProps: {} },
      /existingNotificationTopic and notificationTopicProps/,
    ],
    [
      'existing bus with bus props',
      { existingEventBus: bus, eventBusProps: {} },
      /existingEventBus and eventBusProps/,
    ],
  ])('rejects %s', (_case, props, message) => {
    expect(() => resolveProps(props)).toThrow(message);
  });

  it.each<[string, FluxEditPipelineProps, RegExp]>([
    [
      'a poll delay above SQS’s 900 s',
      { maxPollDelay: Duration.seconds(901) },
      /maxPollDelay must be a whole number of seconds from 1 to 900, got 901/,
    ],
    [
      'a fractional job deadline',
      { jobDeadline: Duration.millis(1500) },
      /jobDeadline must be a whole number of seconds/,
    ],
    ['a job deadline over a day', { jobDeadline: Duration.hours(25) }, /jobDeadline .* from 1 to 86400/],
    [
      'a job retention in hours',
      { jobRetention: Duration.hours(36) },
      /jobRetention must be a whole number of days/,
    ],
    [
      'an upload retention under a day',
      { uploadRetention: Duration.hours(1) },
      /uploadRetention must be a whole number of seconds from 86400/,
    ],
    [
      'an alarm age within the poll delay',
      { maxPollDelay: Duration.seconds(120), pollQueueAgeAlarmThreshold: Duration.minutes(2) },
      /pollQueueAgeAlarmThreshold must be longer than maxPollDelay/,
    ],
    [
      'an http RunComfy URL',
      { runComfyBaseUrl: 'http://model-api.runcomfy.net' },
      /runComfyBaseUrl must use https/,
    ],
    ['a relative RunComfy URL', { runComfyBaseUrl: 'model-api' }, /runComfyBaseUrl must be an absolute URL/],
    [
      'an empty host allowlist',
      { outputHostAllowlist: [] },
      /outputHostAllowlist must name at least one host/,
    ],
    [
      'a URL in the host allowlist',
      { outputHostAllowlist: ['https://cdn.example.com'] },
      /outputHostAllowlist entries must be host names/,
    ],
    [
      'a prefix without a trailing slash',
      { outputPrefix: 'edits' },
      /outputPrefix must be a relative key prefix ending in '\/'/,
    ],
    ['an absolute prefix', { uploadPrefix: '/uploads/' }, /uploadPrefix must be a relative key prefix/],
    ['overlapping prefixes', { outputPrefix: 'data/', uploadPrefix: 'data/uploads/' }, /must not overlap/],
    [
      'an input location without a prefix slash',
      { inputS3Allowlist: ['bucket/in'] },
      /inputS3Allowlist entries must be 'bucket\/' or 'bucket\/prefix\/'/,
    ],
    [
      'an input location that is an ARN',
      { inputS3Allowlist: ['arn:aws:s3:::bucket/'] },
      /inputS3Allowlist entries/,
    ],
    [
      'an empty input allowlist',
      { inputS3Allowlist: [] },
      /inputS3Allowlist must name at least one location/,
    ],
    ['zero output bytes', { outputMaxBytes: 0 }, /outputMaxBytes must be a positive integer, got 0/],
    [
      'fractional reserved concurrency',
      { reservedConcurrency: { jobs: 1.5 } },
      /reservedConcurrency.jobs must be a positive integer/,
    ],
    [
      'reserved concurrency below a queue’s maxConcurrency',
      { reservedConcurrency: { poller: 2 } },
      /reservedConcurrency.poller \(2\) must be at least the poll queue's maxConcurrency \(10\)/,
    ],
    [
      'a zero rate limit',
      { apiThrottle: { rateLimit: 0, burstLimit: 10 } },
      /apiThrottle needs rateLimit > 0/,
    ],
    [
      'an http JWT issuer',
      { apiAuthorization: { type: 'jwt', issuer: 'http://issuer.example.com', audience: ['a'] } },
      /apiAuthorization.issuer must use https/,
    ],
    [
      'a JWT without audience',
      { apiAuthorization: { type: 'jwt', issuer: 'https://issuer.example.com', audience: [] } },
      /apiAuthorization.audience must name at least one audience/,
    ],
    [
      'a webhook delay above SQS’s 900 s',
      { webhookRetryDelays: [Duration.seconds(5), Duration.minutes(16)] },
      /webhookRetryDelays\[1\] must be a whole number of seconds from 0 to 900/,
    ],
    ['no webhook delays', { webhookRetryDelays: [] }, /webhookRetryDelays must hold at least one delay/],
    [
      'a webhook retry window over a week',
      { webhookRetryWindow: Duration.days(8) },
      /webhookRetryWindow must be a whole number of seconds from 1 to 604800/,
    ],
    [
      'a zero alarm threshold',
      { failedJobsAlarmThreshold: 0 },
      /failedJobsAlarmThreshold must be a positive integer/,
    ],
  ])('rejects %s', (_case, props, message) => {
    expect(() => resolveProps(props)).toThrow(message);
  });

  it('accepts whole-bucket and prefixed input locations', () => {
    expect(
      resolveProps({ inputS3Allowlist: ['whole-bucket/', 'my.bucket-1/in/images/'] }).inputS3Allowlist,
    ).toEqual([
      { bucket: 'whole-bucket', prefix: '' },
      { bucket: 'my.bucket-1', prefix: 'in/images/' },
    ]);
  });
});

describe('Class: FluxEditPipeline', () => {
  it('fails with a typed error before creating any resource', () => {
    // Prepare
    const scope = new Stack(new App(), 'Invalid');

    // Act
    const construct = () => new FluxEditPipeline(scope, 'Pipeline', { maxPollDelay: Duration.minutes(20) });

    // Assess
    expect(construct).toThrow(FluxEditPipelinePropsError);
    expect(construct).toThrow(/^FluxEditPipeline: maxPollDelay/);
    expect(scope.node.findAll().filter((child) => child !== scope)).toHaveLength(0);
  });
});
