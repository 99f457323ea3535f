import { Duration } from 'aws-cdk-lib';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import { type IRole, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Function as LambdaFunction, Tracing } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { FUNCTIONS, type FunctionName, type QueueName, TABLE } from '../contract/index.ts';
import { CUSTOMER_KEY_ACTIONS, FUNCTION_ACCESS } from './defaults/function-access.ts';
import {
  LAMBDA_ARCHITECTURE,
  LAMBDA_HANDLER,
  LAMBDA_RUNTIME,
  lambdaCode,
} from './defaults/lambda-defaults.ts';
import { pascal } from './names.ts';
import type { ResolvedProps } from './resolve-props.ts';

/** The pipeline's functions, each with least-privilege access to exactly what its row of FUNCTION_ACCESS names. */

/** The resources a function can be granted access to. */
export interface GrantedParts {
  readonly table: Table;
  readonly queues: Record<QueueName, Queue>;
  readonly outputBucket: IBucket;
  readonly outputPrefix: string;
  readonly uploadPrefix: string;
  readonly runComfyTokenSecret: ISecret;
  readonly webhookSigningSecret: ISecret;
  readonly listCursorSecret: ISecret;
  readonly notificationTopic: ITopic;
  readonly eventBus: IEventBus;
}

/** A function with its own log group and its own role (which can write to that log group only). */
export function createFunction(
  scope: Construct,
  name: FunctionName,
  config: ResolvedProps,
  options: { environment: Record<string, string>; reservedConcurrency?: number; encryptionKey?: IKey },
): { fn: LambdaFunction; role: Role; logGroup: LogGroup } {
  const definition = FUNCTIONS[name];
  const id = pascal(name);
  const logGroup = new LogGroup(scope, `${id}FunctionLogs`, {
    retention: config.logRetention,
    removalPolicy: config.removalPolicy,
  });
  // An own role instead of AWSLambdaBasicExecutionRole: logging is scoped to this log group.
  const role = new Role(scope, `${id}FunctionRole`, {
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
  const fn = new LambdaFunction(scope, `${id}Function`, {
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
          ...options.environment,
          NODE_OPTIONS: [options.environment.NODE_OPTIONS, ...definition.nodeOptions]
            .filter(Boolean)
            .join(' '),
        }
      : options.environment,
    reservedConcurrentExecutions: options.reservedConcurrency,
    environmentEncryption: options.encryptionKey,
  });
  return { fn, role, logGroup };
}

/**
 * Turns the function's row of FUNCTION_ACCESS into statements on this pipeline's resources;
 * returns the object ARNs (wildcards under a prefix) it granted, for the nag acknowledgements.
 */
export function grantAccess(
  parts: GrantedParts,
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

  allow(access.table, [parts.table.tableArn]);
  const indexesOf = {
    sweep: [TABLE.sweepIndex.name],
    waiting: [TABLE.waitingIndex.name],
    list: Object.values(TABLE.listIndexes).map((index) => index.name),
  };
  const indexNames = access.queriesIndexes.flatMap((group) => indexesOf[group]);
  if (indexNames.length > 0) {
    allow(
      ['dynamodb:Query'],
      indexNames.map((name) => `${parts.table.tableArn}/index/${name}`),
    );
  }
  for (const queue of access.sendsTo) allow(['sqs:SendMessage'], [parts.queues[queue].queueArn]);
  if (access.outputs)
    allowObjects(access.outputs, [parts.outputBucket.arnForObjects(`${parts.outputPrefix}*`)]);
  if (access.listsOutputs) {
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [parts.outputBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${parts.outputPrefix}*`] } },
      }),
    );
  }
  if (access.uploads)
    allowObjects(access.uploads, [parts.outputBucket.arnForObjects(`${parts.uploadPrefix}*`)]);
  if (access.batchFiles)
    allowObjects(access.batchFiles, [parts.outputBucket.arnForObjects(`${parts.outputPrefix}batches/*`)]);
  if (access.readsInputs) allowObjects(['s3:GetObject'], inputObjects);
  // An existing bucket may bring its own SSE-KMS key; explicit actions keep the grant wildcard-free.
  const bucketKey = parts.outputBucket.encryptionKey;
  if (
    (access.outputs || access.uploads || access.batchFiles || access.readsInputs) &&
    bucketKey &&
    bucketKey !== key
  ) {
    allow(['kms:Decrypt', 'kms:GenerateDataKey'], [bucketKey.keyArn]);
  }
  if (access.readsRunComfyToken) parts.runComfyTokenSecret.grantRead(role);
  if (access.readsWebhookSecret) parts.webhookSigningSecret.grantRead(role);
  if (access.readsListCursorSecret) parts.listCursorSecret.grantRead(role);
  if (access.publishesNotifications) allow(['sns:Publish'], [parts.notificationTopic.topicArn]);
  if (access.putsEvents) allow(['events:PutEvents'], [parts.eventBus.eventBusArn]);
  if (key) allow(CUSTOMER_KEY_ACTIONS, [key.keyArn]);
  return objectGrants;
}
