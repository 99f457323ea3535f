import { Duration, Stack } from 'aws-cdk-lib';
import {
  HttpApi,
  HttpMethod,
  HttpStage,
  type IHttpRouteAuthorizer,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { Dashboard, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { Table } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, type IEventBus, Rule, Schedule } from 'aws-cdk-lib/aws-events';
import {
  LambdaFunction as LambdaFunctionTarget,
  SqsQueue as SqsQueueTarget,
} from 'aws-cdk-lib/aws-events-targets';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import { Alias, type IKey } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Bucket, type IBucket } from 'aws-cdk-lib/aws-s3';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  EVENTS,
  FUNCTIONS,
  type FunctionName,
  QUEUES,
  type QueueName,
  ROUTES,
  SUBMIT_RULE,
  SWEEPER,
  toEnvironment,
  visibilityTimeoutSeconds,
} from '../contract/index.ts';
import { acknowledgeFindings } from './defaults/acknowledgements.ts';
import { apiAccessLogFormat } from './defaults/apigateway-defaults.ts';
import { jobsTableDefaults, tableIndexes } from './defaults/dynamodb-table-defaults.ts';
import { SOURCE_MAP_ENVIRONMENT } from './defaults/lambda-defaults.ts';
import { accessLogsBucketDefaults, outputBucketDefaults } from './defaults/s3-bucket-defaults.ts';
import { notificationTopicDefaults, SNS_MANAGED_KEY_ALIAS } from './defaults/sns-topic-defaults.ts';
import { queueDefaults } from './defaults/sqs-defaults.ts';
import type { ApiAuthorization, FluxEditPipelineProps } from './flux-edit-pipeline-props.ts';
import { createFunction, grantAccess } from './function-resources.ts';
import { pascal } from './names.ts';
import { coreMetric, createAlarms, createDashboard, type FluxEditPipelineAlarms } from './observability.ts';
import { type ResolvedProps, resolveProps } from './resolve-props.ts';

export type {
  ApiAuthorization,
  ApiThrottle,
  FluxEditPipelineProps,
  PowertoolsLogLevel,
} from './flux-edit-pipeline-props.ts';
export type { FluxEditPipelineAlarms } from './observability.ts';
export { FluxEditPipelinePropsError, resolveProps } from './resolve-props.ts';

/**
 * The whole FLUX.2 [flash] edit pipeline: an HTTP API (IAM or JWT) in front of the submit and
 * jobs functions, a DynamoDB job table, the poll and result queues (each with a DLQ) driving the
 * poller and result functions, a scheduled sweeper that ends jobs whose poll chain stopped, an
 * S3 bucket for the outputs, an SNS topic and an EventBridge bus for completions, the RunComfy
 * token secret, and the alarms and dashboard to run it.
 * Resource sizes, routes, queue settings, the active-jobs index and the sweep interval come from
 * the neutral `contract/` module, which the functions and the local runtime read too.
 *
 * @example
 * const pipeline = new FluxEditPipeline(this, 'Pipeline', { alarmTopic: opsTopic });
 * new CfnOutput(this, 'ApiUrl', { value: pipeline.apiUrl });
 */
export class FluxEditPipeline extends Construct {
  readonly api: HttpApi;
  readonly apiStage: HttpStage;
  /** The API's base URL (no trailing slash issues: routes start with `/`). */
  readonly apiUrl: string;
  readonly apiAccessLogGroup: LogGroup;
  readonly functions: Record<FunctionName, LambdaFunction>;
  readonly functionRoles: Record<FunctionName, IRole>;
  readonly functionLogGroups: Record<FunctionName, LogGroup>;
  readonly table: Table;
  readonly queues: Record<QueueName, Queue>;
  readonly deadLetterQueues: Record<QueueName, Queue>;
  readonly outputBucket: IBucket;
  readonly outputPrefix: string;
  readonly uploadPrefix: string;
  /** `bucket/prefix` locations `s3://` inputs may name (tokens for the pipeline's own bucket). */
  readonly inputS3Allowlist: string[];
  /** Forwards `Edit Job Requested` events on the bus to the submit queue. */
  readonly submitRule: Rule;
  /**
   * Invokes the sweeper function every `SWEEPER.scheduleMinutes`, on the account's default bus
   * (EventBridge runs scheduled rules only there).
   */
  readonly sweeperSchedule: Rule;
  /** The new output bucket's access-log target; undefined when the output bucket is existing. */
  readonly accessLogsBucket?: IBucket;
  readonly notificationTopic: ITopic;
  readonly eventBus: IEventBus;
  readonly runComfyTokenSecret: ISecret;
  /** The key the webhook function signs deliveries with. */
  readonly webhookSigningSecret: ISecret;
  /** The key `GET /edits` signs its cursors with (generated; nobody needs to read it). */
  readonly listCursorSecret: ISecret;
  readonly alarms: FluxEditPipelineAlarms;
  readonly dashboard: Dashboard;
  /** The customer key of the table, queues, new topic and new bucket, if one was given. */
  readonly encryptionKey?: IKey;
  /** The metric the core counts failed jobs on, as the alarm and dashboard read it. */
  readonly jobsFailedMetric: Metric;

  constructor(scope: Construct, id: string, props: FluxEditPipelineProps = {}) {
    // Validated before super(): invalid props leave no half-built construct in the tree.
    const config = resolveProps(props);
    super(scope, id);
    const key = props.encryptionKey;
    this.encryptionKey = key;
    this.outputPrefix = config.outputPrefix;
    this.uploadPrefix = config.uploadPrefix;

    this.table = new Table(this, 'JobsTable', jobsTableDefaults(config.removalPolicy, key));
    for (const index of tableIndexes()) this.table.addGlobalSecondaryIndex(index);
    const { queues, deadLetterQueues } = this.createQueues(key);
    this.queues = queues;
    this.deadLetterQueues = deadLetterQueues;

    if (props.existingOutputBucket) {
      this.outputBucket = props.existingOutputBucket;
    } else {
      this.accessLogsBucket =
        props.accessLogsBucket ??
        new Bucket(this, 'AccessLogsBucket', accessLogsBucketDefaults(config.removalPolicy));
      this.outputBucket = new Bucket(
        this,
        'OutputBucket',
        outputBucketDefaults({
          prefix: config.outputPrefix,
          retention: Duration.days(config.jobRetentionDays),
          uploadPrefix: config.uploadPrefix,
          uploadRetention: Duration.days(config.uploadRetentionDays),
          removalPolicy: config.removalPolicy,
          accessLogsBucket: this.accessLogsBucket,
          encryptionKey: key,
          versioned: props.outputBucketVersioned ?? false,
        }),
      );
    }

    this.notificationTopic =
      props.existingNotificationTopic ??
      new Topic(this, 'NotificationTopic', {
        ...notificationTopicDefaults(
          key ?? Alias.fromAliasName(this, 'SnsManagedKey', SNS_MANAGED_KEY_ALIAS),
        ),
        ...props.notificationTopicProps,
      });
    this.eventBus = props.existingEventBus ?? new EventBus(this, 'EventBus', props.eventBusProps);
    this.runComfyTokenSecret =
      props.existingRunComfyTokenSecret ??
      new Secret(this, 'RunComfyTokenSecret', {
        description:
          'RunComfy API token of the FLUX edit pipeline. Created with a random placeholder: store the real token with ' +
          '`aws secretsmanager put-secret-value --secret-id <arn> --secret-string <token>`.',
        generateSecretString: { passwordLength: 32, excludePunctuation: true },
        encryptionKey: key,
        removalPolicy: config.removalPolicy,
      });
    this.webhookSigningSecret =
      props.existingWebhookSigningSecret ??
      new Secret(this, 'WebhookSigningSecret', {
        description:
          'Key the FLUX edit pipeline signs webhooks with (Standard Webhooks; give receivers `whsec_` + this value). ' +
          'To rotate, store the new and old values separated by a space until receivers have the new one.',
        // 48 base64-alphabet characters decode to a 36-byte HMAC key: valid as generated.
        generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
        encryptionKey: key,
        removalPolicy: config.removalPolicy,
      });

    this.listCursorSecret = new Secret(this, 'ListCursorSecret', {
      description:
        'Signs the FLUX edit pipeline’s list cursors (GET /edits next_token). Generated; rotating it ends open cursors.',
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
      encryptionKey: key,
      removalPolicy: config.removalPolicy,
    });

    const inputLocations = config.inputS3Allowlist ?? [
      { bucket: this.outputBucket.bucketName, prefix: config.uploadPrefix },
    ];
    this.inputS3Allowlist = inputLocations.map(({ bucket, prefix }) => `${bucket}/${prefix}`);
    const inputObjects = inputLocations.map(({ bucket, prefix }) =>
      bucket === this.outputBucket.bucketName
        ? this.outputBucket.arnForObjects(`${prefix}*`)
        : `arn:${Stack.of(this).partition}:s3:::${bucket}/${prefix}*`,
    );

    const environment = this.functionEnvironment(config);
    const functions = {} as Record<FunctionName, LambdaFunction>;
    const roles = {} as Record<FunctionName, IRole>;
    const logGroups = {} as Record<FunctionName, LogGroup>;
    const objectGrants = {} as Record<FunctionName, string[]>;
    for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
      const created = createFunction(this, name, config, {
        environment,
        reservedConcurrency: props.reservedConcurrency?.[name],
        encryptionKey: key,
      });
      functions[name] = created.fn;
      roles[name] = created.role;
      logGroups[name] = created.logGroup;
      objectGrants[name] = grantAccess(this, name, created.role, key, inputObjects);
    }
    this.functions = functions;
    this.functionRoles = roles;
    this.functionLogGroups = logGroups;

    for (const [queueName, definition] of Object.entries(QUEUES) as [
      QueueName,
      (typeof QUEUES)[QueueName],
    ][]) {
      functions[definition.consumer].addEventSource(
        new SqsEventSource(queues[queueName], {
          batchSize: definition.batchSize,
          maxBatchingWindow:
            definition.maxBatchingWindowSeconds > 0
              ? Duration.seconds(definition.maxBatchingWindowSeconds)
              : undefined,
          maxConcurrency: definition.maxConcurrency,
          reportBatchItemFailures: true,
        }),
      );
    }
    this.submitRule = new Rule(this, 'EditJobRequestedRule', {
      eventBus: this.eventBus,
      description: `Forwards '${EVENTS.jobRequested}' events to the submit queue`,
      eventPattern: { detailType: [...SUBMIT_RULE.detailTypes] },
      // Events EventBridge cannot deliver land in the submit DLQ, under the same alarm.
      targets: [new SqsQueueTarget(queues.submit, { deadLetterQueue: deadLetterQueues.submit })],
    });
    this.sweeperSchedule = this.createSweeperSchedule(functions.sweeper);

    this.apiAccessLogGroup = new LogGroup(this, 'ApiAccessLogs', {
      retention: config.logRetention,
      removalPolicy: config.removalPolicy,
    });
    this.api = new HttpApi(this, 'Api', {
      description: 'FLUX.2 [flash] image edits on RunComfy',
      createDefaultStage: false,
      defaultAuthorizer: this.authorizer(config.apiAuthorization),
    });
    // An explicit $default stage: the implicit one takes neither access logs nor throttling.
    this.apiStage = new HttpStage(this, 'ApiDefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: config.apiThrottle.rateLimit, burstLimit: config.apiThrottle.burstLimit },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.apiAccessLogGroup),
        format: apiAccessLogFormat(),
      },
    });
    this.apiUrl = this.apiStage.url;
    const integrations = new Map<FunctionName, HttpLambdaIntegration>();
    for (const route of ROUTES) {
      let integration = integrations.get(route.function);
      if (!integration) {
        integration = new HttpLambdaIntegration(
          `${pascal(route.function)}Integration`,
          functions[route.function],
        );
        integrations.set(route.function, integration);
      }
      this.api.addRoutes({ path: route.path, methods: [HttpMethod[route.method]], integration });
    }

    this.jobsFailedMetric = coreMetric(config, 'JobsFailed');
    this.alarms = createAlarms(this, this, config, props.alarmTopic);
    this.dashboard = createDashboard(this, this, config);

    acknowledgeFindings(this, props, objectGrants);
  }

  private createQueues(key: IKey | undefined) {
    const queues = {} as Record<QueueName, Queue>;
    const deadLetterQueues = {} as Record<QueueName, Queue>;
    for (const [name, definition] of Object.entries(QUEUES) as [QueueName, (typeof QUEUES)[QueueName]][]) {
      const deadLetterQueue = new Queue(this, `${pascal(name)}DeadLetterQueue`, {
        ...queueDefaults(key),
        retentionPeriod: Duration.days(definition.dlqRetentionDays),
      });
      deadLetterQueues[name] = deadLetterQueue;
      queues[name] = new Queue(this, `${pascal(name)}Queue`, {
        ...queueDefaults(key),
        visibilityTimeout: Duration.seconds(visibilityTimeoutSeconds(name)),
        retentionPeriod: Duration.days(definition.retentionDays),
        deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: definition.maxReceiveCount },
      });
    }
    return { queues, deadLetterQueues };
  }

  /**
   * One sweep per tick. The tick carries no data and each sweep queries the index afresh, so the
   * next tick is the retry: Lambda does not retry a failed sweep (its retries would overlap the
   * next one), and a tick not delivered within one interval is dropped as superseded.
   */
  private createSweeperSchedule(sweeper: LambdaFunction): Rule {
    const interval = Duration.minutes(SWEEPER.scheduleMinutes);
    sweeper.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: interval });
    return new Rule(this, 'SweeperSchedule', {
      description: `Runs the sweeper every ${SWEEPER.scheduleMinutes} minutes`,
      schedule: Schedule.rate(interval),
      targets: [new LambdaFunctionTarget(sweeper, { maxEventAge: interval })],
    });
  }

  /** The same configuration for every function: `loadConfig` requires all of it in each. */
  private functionEnvironment(config: ResolvedProps): Record<string, string> {
    return {
      ...toEnvironment({
        jobsTable: this.table.tableName,
        pollQueueUrl: this.queues.poll.queueUrl,
        resultQueueUrl: this.queues.result.queueUrl,
        outputBucket: this.outputBucket.bucketName,
        outputPrefix: config.outputPrefix,
        uploadPrefix: config.uploadPrefix,
        inputS3Allowlist: this.inputS3Allowlist,
        topicArn: this.notificationTopic.topicArn,
        eventBusName: this.eventBus.eventBusName,
        runComfyBaseUrl: config.runComfyBaseUrl,
        // ARNs only: secret values never enter the template or the function configuration.
        runComfyTokenSecretArn: this.runComfyTokenSecret.secretArn,
        webhookSecretArn: this.webhookSigningSecret.secretArn,
        webhookQueueUrl: this.queues.webhook.queueUrl,
        listCursorSecretArn: this.listCursorSecret.secretArn,
        adminScope: config.adminScope,
        adminPrincipals: config.adminPrincipals,
        webhookRetryDelaysSeconds: config.webhookRetryDelaysSeconds,
        webhookRetryWindowSeconds: config.webhookRetryWindowSeconds,
        jobDeadlineSeconds: config.jobDeadlineSeconds,
        runOvertimeSeconds: config.runOvertimeSeconds,
        maxPollDelaySeconds: config.maxPollDelaySeconds,
        outputHostAllowlist: config.outputHostAllowlist,
        outputMaxBytes: config.outputMaxBytes,
        resultRetryWindowSeconds: config.resultRetryWindowSeconds,
        upstreamConcurrency: config.upstreamConcurrency,
        dailySpendCapUsd: config.dailySpendCapUsd,
        jobRetentionDays: config.jobRetentionDays,
      }),
      POWERTOOLS_SERVICE_NAME: config.serviceName,
      POWERTOOLS_METRICS_NAMESPACE: config.metricsNamespace,
      POWERTOOLS_LOG_LEVEL: config.logLevel,
      ...SOURCE_MAP_ENVIRONMENT,
    };
  }

  private authorizer(authorization: ApiAuthorization): IHttpRouteAuthorizer {
    if (authorization.type === 'iam') return new HttpIamAuthorizer();
    return new HttpJwtAuthorizer('JwtAuthorizer', authorization.issuer, {
      jwtAudience: authorization.audience,
      identitySource: authorization.identitySource,
    });
  }

  /** The console URL of the dashboard. */
  get dashboardUrl(): string {
    const region = Stack.of(this).region;
    return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${this.dashboard.dashboardName}`;
  }
}
