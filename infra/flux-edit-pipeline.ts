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
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  Metric,
  TextWidget,
  TreatMissingData,
  Unit,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Table } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, type IEventBus, Rule, Schedule } from 'aws-cdk-lib/aws-events';
import {
  LambdaFunction as LambdaFunctionTarget,
  SqsQueue as SqsQueueTarget,
} from 'aws-cdk-lib/aws-events-targets';
import { type IRole, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Alias, type IKey } from 'aws-cdk-lib/aws-kms';
import { Function as LambdaFunction, Tracing } from 'aws-cdk-lib/aws-lambda';
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
  METRIC,
  type MetricName,
  QUEUES,
  type QueueName,
  ROUTES,
  SUBMIT_RULE,
  SWEEPER,
  TABLE,
  toEnvironment,
  visibilityTimeoutSeconds,
} from '../contract/index.ts';
import { acknowledgeFindings } from './defaults/acknowledgements.ts';
import { apiAccessLogFormat } from './defaults/apigateway-defaults.ts';
import { jobsTableDefaults, tableIndexes } from './defaults/dynamodb-table-defaults.ts';
import { CUSTOMER_KEY_ACTIONS, FUNCTION_ACCESS } from './defaults/function-access.ts';
import {
  LAMBDA_ARCHITECTURE,
  LAMBDA_HANDLER,
  LAMBDA_RUNTIME,
  lambdaCode,
  SOURCE_MAP_ENVIRONMENT,
} from './defaults/lambda-defaults.ts';
import { accessLogsBucketDefaults, outputBucketDefaults } from './defaults/s3-bucket-defaults.ts';
import { notificationTopicDefaults, SNS_MANAGED_KEY_ALIAS } from './defaults/sns-topic-defaults.ts';
import { queueDefaults } from './defaults/sqs-defaults.ts';

import {
  type ApiAuthorization,
  type FluxEditPipelineProps,
  type ResolvedProps,
  resolveProps,
} from './flux-edit-pipeline-props.ts';

export type {
  ApiAuthorization,
  ApiThrottle,
  FluxEditPipelineProps,
  PowertoolsLogLevel,
} from './flux-edit-pipeline-props.ts';
export { FluxEditPipelinePropsError, resolveProps } from './flux-edit-pipeline-props.ts';

const FIVE_MINUTES = Duration.minutes(5);

const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);

/** The alarms the pipeline raises, by what they watch. */
export interface FluxEditPipelineAlarms {
  /** Any message in a DLQ: a job message failed `maxReceiveCount` deliveries. */
  readonly deadLetterQueues: Record<QueueName, Alarm>;
  /** Any invocation error of a function. */
  readonly functionErrors: Record<FunctionName, Alarm>;
  /** The poll queue's oldest message is older than the threshold: polling is falling behind. */
  readonly pollQueueAge: Alarm;
  /** A finished (paid) run has waited too long in the result queue: collection is falling behind. */
  readonly resultQueueAge: Alarm;
  /** Jobs ending `failed` (the core's `JobsFailed` metric). */
  readonly jobsFailed: Alarm;
  /** Webhook deliveries given up (retry window over, or a refused URL). */
  readonly webhooksFailed: Alarm;
  /** The sweeper's schedule could not invoke it (e.g. a lost permission): the safety net is down. */
  readonly sweeperScheduleFailed: Alarm;
}

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
      const created = this.createFunction(name, config, environment, props.reservedConcurrency?.[name]);
      functions[name] = created.fn;
      roles[name] = created.role;
      logGroups[name] = created.logGroup;
      objectGrants[name] = this.grantAccess(name, created.role, key, inputObjects);
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

    this.jobsFailedMetric = this.coreMetric(config, 'JobsFailed');
    this.alarms = this.createAlarms(config, props.alarmTopic);
    this.dashboard = this.createDashboard(config);

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

  private createFunction(
    name: FunctionName,
    config: ResolvedProps,
    environment: Record<string, string>,
    reservedConcurrency: number | undefined,
  ) {
    const definition = FUNCTIONS[name];
    const id = pascal(name);
    const logGroup = new LogGroup(this, `${id}FunctionLogs`, {
      retention: config.logRetention,
      removalPolicy: config.removalPolicy,
    });
    // An own role instead of AWSLambdaBasicExecutionRole: logging is scoped to this log group.
    const role = new Role(this, `${id}FunctionRole`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the ${name} function of the FLUX edit pipeline`,
    });
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    // The bundle built ahead of synth from `definition.entry` (see lambda-defaults.ts).
    const fn = new LambdaFunction(this, `${id}Function`, {
      code: lambdaCode(name),
      handler: LAMBDA_HANDLER,
      description: definition.description,
      runtime: LAMBDA_RUNTIME,
      architecture: LAMBDA_ARCHITECTURE,
      memorySize: definition.memoryMb,
      timeout: Duration.seconds(definition.timeoutSeconds),
      tracing: Tracing.ACTIVE,
      role,
      logGroup,
      environment: definition.nodeOptions
        ? {
            ...environment,
            NODE_OPTIONS: [environment.NODE_OPTIONS, ...definition.nodeOptions].filter(Boolean).join(' '),
          }
        : environment,
      reservedConcurrentExecutions: reservedConcurrency,
      environmentEncryption: this.encryptionKey,
    });
    return { fn, role, logGroup };
  }

  /**
   * Turns the function's row of FUNCTION_ACCESS into statements on this pipeline's resources;
   * returns the object ARNs (wildcards under a prefix) it granted, for the nag acknowledgements.
   */
  private grantAccess(
    name: FunctionName,
    role: IRole,
    key: IKey | undefined,
    inputObjects: string[],
  ): string[] {
    const access = FUNCTION_ACCESS[name];
    const allow = (actions: readonly string[], resources: string[]) =>
      role.addToPrincipalPolicy(new PolicyStatement({ actions: [...actions], resources }));
    const objectGrants: string[] = [];
    const allowObjects = (actions: readonly string[], resources: string[]) => {
      allow(actions, resources);
      objectGrants.push(...resources);
    };

    allow(access.table, [this.table.tableArn]);
    const indexesOf = {
      sweep: [TABLE.sweepIndex.name],
      waiting: [TABLE.waitingIndex.name],
      list: Object.values(TABLE.listIndexes).map((index) => index.name),
    };
    const indexNames = access.queriesIndexes.flatMap((group) => indexesOf[group]);
    if (indexNames.length > 0) {
      allow(
        ['dynamodb:Query'],
        indexNames.map((name) => `${this.table.tableArn}/index/${name}`),
      );
    }
    for (const queue of access.sendsTo) allow(['sqs:SendMessage'], [this.queues[queue].queueArn]);
    if (access.outputs)
      allowObjects(access.outputs, [this.outputBucket.arnForObjects(`${this.outputPrefix}*`)]);
    if (access.listsOutputs) {
      role.addToPrincipalPolicy(
        new PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [this.outputBucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${this.outputPrefix}*`] } },
        }),
      );
    }
    if (access.uploads)
      allowObjects(access.uploads, [this.outputBucket.arnForObjects(`${this.uploadPrefix}*`)]);
    if (access.readsInputs) allowObjects(['s3:GetObject'], inputObjects);
    // An existing bucket may bring its own SSE-KMS key; explicit actions keep the grant wildcard-free.
    const bucketKey = this.outputBucket.encryptionKey;
    if ((access.outputs || access.uploads || access.readsInputs) && bucketKey && bucketKey !== key) {
      allow(['kms:Decrypt', 'kms:GenerateDataKey'], [bucketKey.keyArn]);
    }
    if (access.readsRunComfyToken) this.runComfyTokenSecret.grantRead(role);
    if (access.readsWebhookSecret) this.webhookSigningSecret.grantRead(role);
    if (access.readsListCursorSecret) this.listCursorSecret.grantRead(role);
    if (access.publishesNotifications) allow(['sns:Publish'], [this.notificationTopic.topicArn]);
    if (access.putsEvents) allow(['events:PutEvents'], [this.eventBus.eventBusArn]);
    if (key) allow(CUSTOMER_KEY_ACTIONS, [key.keyArn]);
    return objectGrants;
  }

  private authorizer(authorization: ApiAuthorization): IHttpRouteAuthorizer {
    if (authorization.type === 'iam') return new HttpIamAuthorizer();
    return new HttpJwtAuthorizer('JwtAuthorizer', authorization.issuer, {
      jwtAudience: authorization.audience,
      identitySource: authorization.identitySource,
    });
  }

  private createAlarms(config: ResolvedProps, alarmTopic: ITopic | undefined): FluxEditPipelineAlarms {
    const action = alarmTopic ? new SnsAction(alarmTopic) : undefined;
    const alarm = (id: string, metric: IMetric, threshold: number, description: string) => {
      const created = new Alarm(this, id, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      if (action) {
        created.addAlarmAction(action);
        created.addOkAction(action);
      }
      return created;
    };

    const deadLetterQueues = {} as Record<QueueName, Alarm>;
    for (const name of Object.keys(QUEUES) as QueueName[]) {
      deadLetterQueues[name] = alarm(
        `${pascal(name)}DeadLetterQueueAlarm`,
        this.deadLetterQueues[name].metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
          statistic: 'Maximum',
        }),
        1,
        `Messages in the ${name} DLQ: jobs stopped moving after ${QUEUES[name].maxReceiveCount} deliveries. Inspect, fix, then redrive.`,
      );
    }
    const functionErrors = {} as Record<FunctionName, Alarm>;
    for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
      functionErrors[name] = alarm(
        `${pascal(name)}FunctionErrorsAlarm`,
        this.functions[name].metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
        1,
        `The ${name} function failed (threw or timed out); see its log group.`,
      );
    }
    const pollQueueAge = alarm(
      'PollQueueAgeAlarm',
      this.queues.poll.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      config.pollQueueAgeAlarmSeconds,
      'The poll queue is backing up: the poller is failing, throttled or short of concurrency.',
    );
    const resultQueueAge = alarm(
      'ResultQueueAgeAlarm',
      this.queues.result.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      config.resultQueueAgeAlarmSeconds,
      'Finished (paid) runs are waiting to be collected: the result function is failing, throttled or short of concurrency. Nothing is lost: no deadline applies once RunComfy has finished.',
    );
    const jobsFailed = alarm(
      'JobsFailedAlarm',
      this.jobsFailedMetric,
      config.failedJobsAlarmThreshold,
      'Edit jobs ended failed (RunComfy error, deadline, or output copy failure).',
    );
    const webhooksFailed = alarm(
      'WebhooksFailedAlarm',
      this.coreMetric(config, 'WebhooksFailed'),
      1,
      'Webhook deliveries were given up: a receiver refused or stayed unreachable for the whole retry window.',
    );
    const sweeperScheduleFailed = alarm(
      'SweeperScheduleFailedAlarm',
      new Metric({
        namespace: 'AWS/Events',
        metricName: 'FailedInvocations',
        dimensionsMap: { RuleName: this.sweeperSchedule.ruleName },
        period: FIVE_MINUTES,
        statistic: 'Sum',
      }),
      1,
      'EventBridge could not invoke the sweeper: stopped jobs, stalled collections and unsent notifications are not being looked after.',
    );
    return {
      deadLetterQueues,
      functionErrors,
      pollQueueAge,
      resultQueueAge,
      jobsFailed,
      webhooksFailed,
      sweeperScheduleFailed,
    };
  }

  private createDashboard(config: ResolvedProps): Dashboard {
    const names = Object.keys(FUNCTIONS) as FunctionName[];
    const queueNames = Object.keys(QUEUES) as QueueName[];
    const perFunction = (metric: (fn: LambdaFunction) => IMetric) =>
      names.map((name) => metric(this.functions[name]));
    const core = (metricName: MetricName) => this.coreMetric(config, metricName).with({ label: metricName });
    const dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    dashboard.addWidgets(
      new TextWidget({ markdown: '# FLUX edit pipeline', width: 24, height: 1 }),
      new GraphWidget({
        title: 'Jobs',
        left: [core('JobsAccepted'), core('JobsSucceeded'), core('JobsFailed'), core('JobsSwept')],
        width: 12,
      }),
      new GraphWidget({
        title: 'Collection of finished runs',
        left: [core('ResultsCollected'), core('ResultAttemptsFailed'), core('OrphanOutputsDeleted')],
        right: [
          this.coreMetric(config, 'ResultCollectionLatency').with({
            statistic: 'p95',
            label: 'upstream finished → job ended (p95)',
          }),
        ],
        width: 12,
      }),
      new GraphWidget({
        title: 'Notifications',
        left: [
          core('WebhooksDelivered'),
          core('WebhookAttemptsFailed'),
          core('WebhooksFailed'),
          core('WebhooksResent'),
          core('LifecycleEventsFailed'),
        ],
        width: 12,
      }),
      new GraphWidget({
        title: 'API requests and errors',
        left: [
          this.apiStage.metricCount(),
          this.apiStage.metricClientError(),
          this.apiStage.metricServerError(),
        ],
        right: [this.apiStage.metricLatency({ statistic: 'p99' })],
        width: 12,
      }),
      new GraphWidget({
        title: 'Function errors and throttles',
        left: [...perFunction((fn) => fn.metricErrors()), ...perFunction((fn) => fn.metricThrottles())],
        width: 12,
      }),
      new GraphWidget({
        title: 'Function duration p99',
        left: perFunction((fn) => fn.metricDuration({ statistic: 'p99' })),
        width: 12,
      }),
      new GraphWidget({
        title: 'Queues: visible messages and oldest age',
        left: queueNames.map((name) => this.queues[name].metricApproximateNumberOfMessagesVisible()),
        right: queueNames.map((name) => this.queues[name].metricApproximateAgeOfOldestMessage()),
        width: 12,
      }),
      new GraphWidget({
        title: 'Dead-letter queues',
        left: queueNames.map((name) =>
          this.deadLetterQueues[name].metricApproximateNumberOfMessagesVisible({ label: `${name} DLQ` }),
        ),
        width: 12,
      }),
    );
    return dashboard;
  }

  /**
   * A metric the core emits through Powertools Metrics (the shared `service` dimension only),
   * from the contract's catalogue: counts summed, durations averaged, over five minutes.
   */
  private coreMetric(config: ResolvedProps, metricName: MetricName): Metric {
    const timing = METRIC[metricName].unit === 'Milliseconds';
    return new Metric({
      namespace: config.metricsNamespace,
      metricName,
      dimensionsMap: { service: config.serviceName },
      statistic: timing ? 'Average' : 'Sum',
      period: FIVE_MINUTES,
      unit: timing ? Unit.MILLISECONDS : Unit.COUNT,
    });
  }

  /** The console URL of the dashboard. */
  get dashboardUrl(): string {
    const region = Stack.of(this).region;
    return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${this.dashboard.dashboardName}`;
  }
}
