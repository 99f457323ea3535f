import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duration } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ENV,
  EVENTS,
  FUNCTIONS,
  type FunctionName,
  METRIC_IDENTITY,
  QUEUES,
  type QueueName,
  ROUTES,
  SWEEPER,
  TABLE,
  TABLE_INDEXES,
  visibilityTimeoutSeconds,
} from '../../contract/index.ts';
import {
  ESM_REQUIRE_BANNER,
  LAMBDA_ASSETS_DIR,
  LambdaAssetMissingError,
  lambdaCode,
} from '../../infra/defaults/lambda-defaults.ts';
import {
  resourceOf,
  resourcesOfType,
  type Synthesized,
  synth,
  synthConstruct,
  temporaryOutdir,
} from './synth.ts';

const functionNames = Object.keys(FUNCTIONS) as FunctionName[];
const queueNames = Object.keys(QUEUES) as QueueName[];

/** `{ "Fn::GetAtt": [id, "Arn"] }` of a logical id. */
const arnOf = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });

describe('Class: FluxEditPipeline', () => {
  // One bundled synth for the file: esbuild runs once per function, not once per test.
  let synthesized: Synthesized;
  beforeAll(() => {
    synthesized = synth();
  });

  describe('HTTP API', () => {
    it('creates one route per definition route, each IAM-authorised and integrated with its function', () => {
      // Prepare
      const { template, pipeline, logicalId } = synthesized;
      const routes = resourcesOfType(template, 'AWS::ApiGatewayV2::Route');

      // Assess
      expect(routes).toHaveLength(ROUTES.length);
      for (const route of ROUTES) {
        const found = routes.find(
          ([, resource]) => resource.Properties.RouteKey === `${route.method} ${route.path}`,
        );
        expect(found, `${route.method} ${route.path}`).toBeDefined();
        const properties = found![1].Properties;
        expect(properties.AuthorizationType).toBe('AWS_IAM');
        const integrationId = properties.Target['Fn::Join'][1][1].Ref as string;
        expect(resourceOf(template, integrationId).Properties.IntegrationUri).toEqual(
          arnOf(logicalId(pipeline.functions[route.function])),
        );
      }
    });

    it('deploys an explicit $default stage with throttling and JSON access logs', () => {
      // Prepare
      const { template, pipeline, logicalId } = synthesized;
      const [, stage] = resourcesOfType(template, 'AWS::ApiGatewayV2::Stage')[0]!;

      // Assess
      expect(stage.Properties).toMatchObject({
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
        AccessLogSettings: { DestinationArn: arnOf(logicalId(pipeline.apiAccessLogGroup)) },
      });
      const format = JSON.parse(stage.Properties.AccessLogSettings.Format);
      expect(format).toMatchObject({
        requestId: '$context.requestId',
        routeKey: '$context.routeKey',
        status: '$context.status',
        integrationError: '$context.integrationErrorMessage',
      });
      template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    });
  });

  describe('Functions', () => {
    it('runs every function on nodejs24.x, arm64, with the definition’s memory and timeout and active tracing', () => {
      const { template, pipeline, logicalId } = synthesized;
      for (const name of functionNames) {
        expect(resourceOf(template, logicalId(pipeline.functions[name])).Properties).toMatchObject({
          Runtime: 'nodejs24.x',
          Architectures: ['arm64'],
          Handler: 'index.handler',
          MemorySize: FUNCTIONS[name].memoryMb,
          Timeout: FUNCTIONS[name].timeoutSeconds,
          TracingConfig: { Mode: 'Active' },
          LoggingConfig: { LogGroup: { Ref: logicalId(pipeline.functionLogGroups[name]) } },
        });
      }
      expect(resourcesOfType(template, 'AWS::Lambda::Function')).toHaveLength(functionNames.length);
    });

    it('deploys each function’s pre-built bundle: minified ESM with the createRequire banner and a source map', () => {
      const { template, pipeline, logicalId, outdir } = synthesized;
      for (const name of functionNames) {
        // The asset directory is named after the hash the function's S3 key carries.
        const s3Key: string = resourceOf(template, logicalId(pipeline.functions[name])).Properties.Code.S3Key;
        const assetPath = `asset.${s3Key.replace(/\.zip$/, '')}`;
        const bundle = readFileSync(join(outdir, assetPath, 'index.mjs'), 'utf8');
        expect(bundle.startsWith(ESM_REQUIRE_BANNER)).toBe(true);
        expect(existsSync(join(outdir, assetPath, 'index.mjs.map'))).toBe(true);
        // The very bundle the package ships in dist/assets: one code path for the repo and consumers.
        expect(bundle).toBe(readFileSync(join(LAMBDA_ASSETS_DIR, name, 'index.mjs'), 'utf8'));
      }
    });

    it('names the missing bundle and how to build it when dist/assets lacks one', () => {
      const empty = temporaryOutdir();
      expect(() => lambdaCode('poller', empty)).toThrow(LambdaAssetMissingError);
      expect(() => lambdaCode('poller', empty)).toThrow(/poller function is missing.*npm run build:assets/);
    });

    it('gives every function the configuration its config loader reads, the token secret ARN but never a token', () => {
      const { template, pipeline, logicalId } = synthesized;
      for (const name of functionNames) {
        const variables = resourceOf(template, logicalId(pipeline.functions[name])).Properties.Environment
          .Variables;
        expect(variables).toMatchObject({
          [ENV.jobsTable]: { Ref: logicalId(pipeline.table) },
          [ENV.pollQueueUrl]: { Ref: logicalId(pipeline.queues.poll) },
          [ENV.resultQueueUrl]: { Ref: logicalId(pipeline.queues.result) },
          [ENV.outputBucket]: { Ref: logicalId(pipeline.outputBucket) },
          [ENV.outputPrefix]: 'edits/',
          [ENV.uploadPrefix]: 'uploads/',
          [ENV.inputS3Allowlist]: {
            'Fn::Join': ['', [{ Ref: logicalId(pipeline.outputBucket) }, '/uploads/']],
          },
          [ENV.topicArn]: { Ref: logicalId(pipeline.notificationTopic) },
          [ENV.eventBusName]: { Ref: logicalId(pipeline.eventBus) },
          [ENV.runComfyBaseUrl]: 'https://model-api.runcomfy.net',
          [ENV.runComfyTokenSecretArn]: { Ref: logicalId(pipeline.runComfyTokenSecret) },
          [ENV.webhookSecretArn]: { Ref: logicalId(pipeline.webhookSigningSecret) },
          [ENV.webhookQueueUrl]: { Ref: logicalId(pipeline.queues.webhook) },
          [ENV.batchQueueUrl]: { Ref: logicalId(pipeline.queues.batch) },
          [ENV.listCursorSecretArn]: { Ref: logicalId(pipeline.listCursorSecret) },
          [ENV.resultRetryWindowSeconds]: '900',
          [ENV.upstreamConcurrency]: '20',
          [ENV.jobDeadlineSeconds]: '900',
          [ENV.maxPollDelaySeconds]: '30',
          [ENV.outputHostAllowlist]: '*.runcomfy.net',
          [ENV.outputMaxBytes]: String(50 * 1024 * 1024),
          [ENV.jobRetentionDays]: '30',
          POWERTOOLS_SERVICE_NAME: METRIC_IDENTITY.serviceName,
          POWERTOOLS_METRICS_NAMESPACE: METRIC_IDENTITY.namespace,
          POWERTOOLS_LOG_LEVEL: 'INFO',
          NODE_OPTIONS: ['--enable-source-maps', ...(FUNCTIONS[name].nodeOptions ?? [])].join(' '),
        });
        expect(variables).not.toHaveProperty(ENV.runComfyApiToken);
        expect(variables).not.toHaveProperty(ENV.allowLoopbackHttp);
        expect(variables).not.toHaveProperty(ENV.webhookSigningSecret);
        expect(variables).not.toHaveProperty(ENV.listCursorSecret);
        // IAM auth without admin principals: nobody sees other callers' jobs.
        expect(variables).not.toHaveProperty(ENV.adminScope);
        // No spend cap unless one is configured.
        expect(variables).not.toHaveProperty(ENV.dailySpendCapUsd);
        // Unset: the webhook core's own retry schedule applies.
        expect(variables).not.toHaveProperty(ENV.webhookRetryDelaysSeconds);
      }
      // Secret values are generated by Secrets Manager, never written into the template.
      const secrets = resourcesOfType(template, 'AWS::SecretsManager::Secret');
      expect(secrets).toHaveLength(3);
      for (const [, secret] of secrets) {
        expect(secret.Properties.SecretString).toBeUndefined();
        expect(secret.Properties.GenerateSecretString).toBeDefined();
      }
      // The signing key is a valid webhook key as generated: 48 base64 characters, 36 bytes.
      expect(
        resourceOf(template, logicalId(pipeline.webhookSigningSecret)).Properties.GenerateSecretString,
      ).toMatchObject({
        PasswordLength: 48,
        ExcludePunctuation: true,
        IncludeSpace: false,
      });
    });

    it('maps each queue to its consumer with partial batch responses and the definition’s batching', () => {
      const { template, pipeline, logicalId } = synthesized;
      const mappings = resourcesOfType(template, 'AWS::Lambda::EventSourceMapping');
      expect(mappings).toHaveLength(queueNames.length);
      for (const queue of queueNames) {
        const definition = QUEUES[queue];
        template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
          EventSourceArn: arnOf(logicalId(pipeline.queues[queue])),
          FunctionName: { Ref: logicalId(pipeline.functions[definition.consumer]) },
          BatchSize: definition.batchSize,
          FunctionResponseTypes: ['ReportBatchItemFailures'],
          ScalingConfig: { MaximumConcurrency: definition.maxConcurrency },
          MaximumBatchingWindowInSeconds:
            definition.maxBatchingWindowSeconds > 0 ? definition.maxBatchingWindowSeconds : Match.absent(),
        });
      }
    });
  });

  describe('Storage and messaging', () => {
    it('keys the job table by the definition, on demand, with PITR, TTL, KMS and retention', () => {
      const { template } = synthesized;
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: {
          KeySchema: [{ AttributeName: TABLE.partitionKey, KeyType: 'HASH' }],
          AttributeDefinitions: Match.arrayWith([
            { AttributeName: TABLE.partitionKey, AttributeType: 'S' },
            { AttributeName: TABLE.sweepIndex.partitionKey, AttributeType: 'S' },
            { AttributeName: TABLE.sweepIndex.sortKey, AttributeType: 'S' },
          ]),
          BillingMode: 'PAY_PER_REQUEST',
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          TimeToLiveSpecification: { AttributeName: TABLE.ttlAttribute, Enabled: true },
          SSESpecification: { SSEEnabled: true },
          DeletionProtectionEnabled: true,
        },
      });
    });

    it('has exactly the contract’s sparse, keys-only indexes: the sweeper’s and the lists’', () => {
      const { template } = synthesized;
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        // Exactly these: every GSI is paid for on every write that changes its keys.
        GlobalSecondaryIndexes: TABLE_INDEXES.map((index) => ({
          IndexName: index.name,
          KeySchema: [
            { AttributeName: index.partitionKey, KeyType: 'HASH' },
            { AttributeName: index.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        })),
      });
    });

    it('gives every queue an encrypted, TLS-only DLQ with the definition’s redrive and retention', () => {
      const { template, pipeline, logicalId } = synthesized;
      for (const queue of queueNames) {
        const definition = QUEUES[queue];
        const consumerTimeout = FUNCTIONS[definition.consumer].timeoutSeconds;
        const main = resourceOf(template, logicalId(pipeline.queues[queue])).Properties;
        const deadLetter = resourceOf(template, logicalId(pipeline.deadLetterQueues[queue])).Properties;

        expect(main.RedrivePolicy).toEqual({
          deadLetterTargetArn: arnOf(logicalId(pipeline.deadLetterQueues[queue])),
          maxReceiveCount: definition.maxReceiveCount,
        });
        expect(main.VisibilityTimeout).toBe(visibilityTimeoutSeconds(queue));
        expect(main.VisibilityTimeout).toBeGreaterThanOrEqual(6 * consumerTimeout);
        expect(main.MessageRetentionPeriod).toBe(definition.retentionDays * 86_400);
        expect(deadLetter.MessageRetentionPeriod).toBe(definition.dlqRetentionDays * 86_400);
        expect(main.SqsManagedSseEnabled).toBe(true);
        expect(deadLetter.SqsManagedSseEnabled).toBe(true);
      }
      // enforceSSL: a queue policy denying non-TLS access on each of the four queues.
      const policies = resourcesOfType(template, 'AWS::SQS::QueuePolicy');
      expect(policies).toHaveLength(2 * queueNames.length);
      for (const [, policy] of policies) {
        expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
          expect.objectContaining({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        );
      }
    });

    it('blocks public access to both buckets, denies non-TLS access and logs the output bucket', () => {
      const { template, pipeline, logicalId } = synthesized;
      const outputBucket = logicalId(pipeline.outputBucket);
      const logsBucket = logicalId(pipeline.accessLogsBucket!);
      for (const bucket of [outputBucket, logsBucket]) {
        expect(resourceOf(template, bucket).Properties).toMatchObject({
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [
              { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
            ],
          },
        });
        template.hasResourceProperties('AWS::S3::BucketPolicy', {
          Bucket: { Ref: bucket },
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            ]),
          },
        });
      }
      expect(resourceOf(template, outputBucket).Properties).toMatchObject({
        LoggingConfiguration: { DestinationBucketName: { Ref: logsBucket } },
        LifecycleConfiguration: {
          Rules: expect.arrayContaining([
            expect.objectContaining({ Prefix: 'edits/', ExpirationInDays: 30, Status: 'Enabled' }),
            expect.objectContaining({ Prefix: 'uploads/', ExpirationInDays: 7, Status: 'Enabled' }),
            expect.objectContaining({
              AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
              Status: 'Enabled',
            }),
          ]),
        },
      });
      expect(resourceOf(template, outputBucket).Properties.VersioningConfiguration).toBeUndefined();
    });

    it('encrypts the topic with the AWS-managed SNS key and denies non-TLS publishing', () => {
      const { template, pipeline, logicalId } = synthesized;
      template.hasResourceProperties('AWS::SNS::Topic', {
        KmsMasterKeyId: { 'Fn::Join': ['', Match.arrayWith([':alias/aws/sns'])] },
      });
      template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        Topics: [{ Ref: logicalId(pipeline.notificationTopic) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
      template.resourceCountIs('AWS::Events::EventBus', 1);
    });

    it('forwards Edit Job Requested events on the bus to the submit queue, undeliverable ones to its DLQ', () => {
      const { template, pipeline, logicalId } = synthesized;
      template.hasResourceProperties('AWS::Events::Rule', {
        EventBusName: { Ref: logicalId(pipeline.eventBus) },
        EventPattern: { 'detail-type': [EVENTS.jobRequested] },
        Targets: [
          Match.objectLike({
            Arn: arnOf(logicalId(pipeline.queues.submit)),
            DeadLetterConfig: { Arn: arnOf(logicalId(pipeline.deadLetterQueues.submit)) },
          }),
        ],
      });
      // EventBridge may send to both, only on behalf of this rule.
      for (const queue of [pipeline.queues.submit, pipeline.deadLetterQueues.submit]) {
        const [, policy] = resourcesOfType(template, 'AWS::SQS::QueuePolicy').find(
          ([, candidate]) => candidate.Properties.Queues[0].Ref === logicalId(queue),
        )!;
        const allowed = policy.Properties.PolicyDocument.Statement.filter(
          (statement: { Effect: string }) => statement.Effect === 'Allow',
        );
        expect(
          allowed.flatMap((statement: { Action: string | string[] }) => [statement.Action].flat()),
        ).toContain('sqs:SendMessage');
        template.hasResourceProperties('AWS::SQS::QueuePolicy', {
          Queues: [{ Ref: logicalId(queue) }],
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: 'Allow',
                Action: Match.anyValue(),
                Principal: { Service: 'events.amazonaws.com' },
                Condition: { ArnEquals: { 'aws:SourceArn': arnOf(logicalId(pipeline.submitRule)) } },
              }),
            ]),
          },
        });
      }
    });
  });

  describe('Sweeper', () => {
    it('invokes the sweeper on the definition’s rate from a rule on the default bus', () => {
      const { template, pipeline, logicalId } = synthesized;
      const rule = resourceOf(template, logicalId(pipeline.sweeperSchedule)).Properties;

      expect(rule).toMatchObject({
        ScheduleExpression: expect.stringMatching(/^rate\(\d+ minutes?\)$/),
        State: 'ENABLED',
        Targets: [
          {
            Arn: arnOf(logicalId(pipeline.functions.sweeper)),
            // A tick not delivered within one interval is superseded by the next.
            RetryPolicy: { MaximumEventAgeInSeconds: SWEEPER.scheduleMinutes * 60 },
          },
        ],
      });
      // Scheduled rules run on the default bus only: no bus named, not the pipeline's bus.
      expect(rule.EventBusName).toBeUndefined();
      expect(rule.EventPattern).toBeUndefined();
      expect(rule.Targets[0].Input).toBeUndefined();
    });

    it('lets only the schedule rule invoke the sweeper, once per tick without Lambda retries', () => {
      const { template, pipeline, logicalId } = synthesized;
      const sweeper = logicalId(pipeline.functions.sweeper);
      const invokers = resourcesOfType(template, 'AWS::Lambda::Permission').filter(([, permission]) =>
        JSON.stringify(permission.Properties.FunctionName).includes(`"${sweeper}"`),
      );
      expect(invokers.map(([, permission]) => permission.Properties)).toEqual([
        {
          Action: 'lambda:InvokeFunction',
          FunctionName: arnOf(sweeper),
          Principal: 'events.amazonaws.com',
          SourceArn: arnOf(logicalId(pipeline.sweeperSchedule)),
        },
      ]);
      const invokeConfigs = resourcesOfType(template, 'AWS::Lambda::EventInvokeConfig');
      expect(invokeConfigs.map(([, config]) => config.Properties)).toEqual([
        {
          FunctionName: { Ref: sweeper },
          Qualifier: '$LATEST',
          MaximumRetryAttempts: 0,
          MaximumEventAgeInSeconds: SWEEPER.scheduleMinutes * 60,
        },
      ]);
    });

    it('consumes no queue: its only trigger is the schedule', () => {
      const { template, pipeline, logicalId } = synthesized;
      const sweeper = logicalId(pipeline.functions.sweeper);
      const mappings = resourcesOfType(template, 'AWS::Lambda::EventSourceMapping');
      expect(mappings.filter(([, mapping]) => mapping.Properties.FunctionName.Ref === sweeper)).toEqual([]);
    });
  });

  describe('Operations', () => {
    it('alarms on DLQ messages, function errors, poll and result queue age, failed jobs and a failing sweeper schedule', () => {
      const { template, pipeline, logicalId } = synthesized;
      template.resourceCountIs('AWS::CloudWatch::Alarm', queueNames.length + functionNames.length + 5);
      for (const queue of queueNames) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Dimensions: [
            {
              Name: 'QueueName',
              Value: { 'Fn::GetAtt': [logicalId(pipeline.deadLetterQueues[queue]), 'QueueName'] },
            },
          ],
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        });
        expect(pipeline.alarms.deadLetterQueues[queue]).toBeDefined();
      }
      for (const name of functionNames) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          MetricName: 'Errors',
          Namespace: 'AWS/Lambda',
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(pipeline.functions[name]) } }],
          Threshold: 1,
        });
      }
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [
          { Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(pipeline.queues.poll), 'QueueName'] } },
        ],
        Threshold: 300,
      });
      // A finished (paid) run waiting to be collected.
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [
          { Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(pipeline.queues.result), 'QueueName'] } },
        ],
        Threshold: 600,
      });
      expect(pipeline.alarms.resultQueueAge).toBeDefined();
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: METRIC_IDENTITY.namespace,
        MetricName: 'JobsFailed',
        Unit: 'Count',
        Statistic: 'Sum',
        Dimensions: [{ Name: 'service', Value: METRIC_IDENTITY.serviceName }],
        Threshold: 1,
        AlarmActions: Match.absent(),
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: METRIC_IDENTITY.namespace,
        MetricName: 'WebhooksFailed',
        Unit: 'Count',
        Dimensions: [{ Name: 'service', Value: METRIC_IDENTITY.serviceName }],
        Threshold: 1,
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Events',
        MetricName: 'FailedInvocations',
        Dimensions: [{ Name: 'RuleName', Value: { Ref: logicalId(pipeline.sweeperSchedule) } }],
        Threshold: 1,
      });
      template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    });

    it('outputs what a deployer and a client need', () => {
      const outputs = Object.keys(synthesized.template.toJSON().Outputs);
      expect(outputs).toEqual(
        expect.arrayContaining([
          'ApiUrl',
          'TableName',
          'BucketName',
          'TopicArn',
          'EventBusName',
          'SubmitQueueUrl',
          'PollQueueUrl',
          'ResultQueueUrl',
          'SubmitDeadLetterQueueUrl',
          'PollDeadLetterQueueUrl',
          'ResultDeadLetterQueueUrl',
          'SubmitFunctionName',
          'UploadPrefix',
          'RunComfyTokenSecretArn',
          'DashboardName',
          'DashboardUrl',
        ]),
      );
    });
  });

  describe('Options', () => {
    it('puts every route behind a JWT authorizer when configured', () => {
      // Act
      const { template } = synth(
        {
          pipeline: {
            apiAuthorization: {
              type: 'jwt',
              issuer: 'https://issuer.example.com',
              audience: ['edits-client'],
            },
          },
        },
        { bundle: false },
      );

      // Assess
      const [authorizerId, authorizer] = resourcesOfType(template, 'AWS::ApiGatewayV2::Authorizer')[0]!;
      expect(authorizer.Properties).toMatchObject({
        AuthorizerType: 'JWT',
        JwtConfiguration: { Issuer: 'https://issuer.example.com', Audience: ['edits-client'] },
        IdentitySource: ['$request.header.Authorization'],
      });
      const routes = resourcesOfType(template, 'AWS::ApiGatewayV2::Route');
      expect(routes).toHaveLength(ROUTES.length);
      for (const [, route] of routes) {
        expect(route.Properties).toMatchObject({
          AuthorizationType: 'JWT',
          AuthorizerId: { Ref: authorizerId },
        });
      }
    });

    it('encrypts table, queues, topic, bucket and function environments with a customer key', () => {
      // Prepare
      let key: Key | undefined;

      // Act
      const { template, pipeline, logicalId } = synthConstruct((stack) => {
        key = new Key(stack, 'PipelineKey', { enableKeyRotation: true });
        return { encryptionKey: key };
      });

      // Assess
      const keyArn = arnOf(logicalId(key!));
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: keyArn },
      });
      expect(
        resourcesOfType(template, 'AWS::SQS::Queue').map(([, queue]) => queue.Properties.KmsMasterKeyId),
      ).toEqual(Array(2 * queueNames.length).fill(keyArn));
      template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: keyArn });
      expect(resourceOf(template, logicalId(pipeline.outputBucket)).Properties.BucketEncryption).toEqual({
        ServerSideEncryptionConfiguration: [
          {
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn },
            BucketKeyEnabled: true,
          },
        ],
      });
      template.hasResourceProperties('AWS::SecretsManager::Secret', { KmsKeyId: keyArn });
      for (const name of functionNames) {
        expect(resourceOf(template, logicalId(pipeline.functions[name])).Properties.KmsKeyArn).toEqual(
          keyArn,
        );
      }
    });

    it('uses an existing bucket, topic, bus and secret instead of creating them, and wires alarm actions', () => {
      // Prepare
      let alarmTopic: Topic | undefined;

      // Act
      const { template, pipeline, logicalId } = synthConstruct((stack) => {
        alarmTopic = new Topic(stack, 'AlarmTopic');
        return {
          existingOutputBucket: Bucket.fromBucketName(stack, 'ExistingBucket', 'existing-outputs'),
          existingNotificationTopic: Topic.fromTopicArn(
            stack,
            'ExistingTopic',
            'arn:aws:sns:eu-west-1:111111111111:existing',
          ),
          existingEventBus: EventBus.fromEventBusName(stack, 'ExistingBus', 'existing-bus'),
          existingRunComfyTokenSecret: Secret.fromSecretNameV2(stack, 'ExistingSecret', 'runcomfy-token'),
          existingWebhookSigningSecret: Secret.fromSecretNameV2(
            stack,
            'ExistingSigningSecret',
            'webhook-key',
          ),
          webhookRetryDelays: [Duration.seconds(0), Duration.minutes(1)],
          webhookRetryWindow: Duration.hours(6),
          reservedConcurrency: { poller: 20 },
          jobDeadline: Duration.minutes(5),
          alarmTopic,
        };
      });

      // Assess
      template.resourceCountIs('AWS::S3::Bucket', 0);
      template.resourceCountIs('AWS::SNS::Topic', 1); // the alarm topic only
      template.resourceCountIs('AWS::Events::EventBus', 0);
      // Only the list cursor key, which nobody outside the stack needs to hold.
      template.resourceCountIs('AWS::SecretsManager::Secret', 1);
      const poller = resourceOf(template, logicalId(pipeline.functions.poller)).Properties;
      expect(poller.ReservedConcurrentExecutions).toBe(20);
      expect(poller.Environment.Variables).toMatchObject({
        [ENV.outputBucket]: 'existing-outputs',
        [ENV.topicArn]: 'arn:aws:sns:eu-west-1:111111111111:existing',
        [ENV.eventBusName]: 'existing-bus',
        [ENV.jobDeadlineSeconds]: '300',
        [ENV.webhookRetryDelaysSeconds]: '0,60',
        [ENV.webhookRetryWindowSeconds]: '21600',
      });
      const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm');
      expect(alarms).toHaveLength(queueNames.length + functionNames.length + 5);
      for (const [, alarm] of alarms) {
        expect(alarm.Properties.AlarmActions).toEqual([{ Ref: logicalId(alarmTopic!) }]);
        expect(alarm.Properties.OKActions).toEqual([{ Ref: logicalId(alarmTopic!) }]);
      }
    });
  });
});
