import { CfnResource, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { FunctionName, QueueName } from '../../contract/resources.ts';
import { QUEUES } from '../../contract/resources.ts';
import type { FluxEditPipelineProps } from '../flux-edit-pipeline-props.ts';

/**
 * The parts of the pipeline the acknowledgements name, as constructs: the construct hands itself
 * in, and this file does not import it (no cycle).
 */
export interface AcknowledgedParts extends IConstruct {
  readonly functions: Record<FunctionName, IConstruct>;
  readonly functionRoles: Record<FunctionName, IConstruct>;
  readonly functionLogGroups: Record<FunctionName, IConstruct>;
  readonly queues: Record<QueueName, IConstruct>;
  readonly deadLetterQueues: Record<QueueName, IConstruct>;
  readonly table: IConstruct;
  readonly outputBucket: IConstruct;
  readonly accessLogsBucket?: IConstruct;
  readonly apiAccessLogGroup: IConstruct;
  readonly sweeperSchedule: IConstruct;
  readonly runComfyTokenSecret: IConstruct;
  readonly webhookSigningSecret: IConstruct;
  readonly listCursorSecret: IConstruct;
}

/**
 * Every finding of cdk-nag (AwsSolutions, Serverless) and checkov the pipeline accepts, with the
 * reason, in one place. Each is attached to the one resource it is about (never stack-wide), and
 * only while it applies: configure a customer key or reserved concurrency and the matching
 * skips disappear, so the checks run again.
 */
export const REASONS = {
  xrayNoResourceScope:
    'Tracing.ACTIVE: xray:PutTraceSegments and xray:PutTelemetryRecords do not support resource-level permissions, so X-Ray requires Resource "*".',
  objectsUnderPrefix:
    'Objects are created per job (outputs) or per upload under a fixed prefix, or named by callers within an allowlisted input prefix; "<bucket>/<prefix>*" is the narrowest grant that covers keys not known at deploy time.',
  tokenRotationIsManual:
    'The secret holds a third-party RunComfy API token: rotating it means issuing a new token in the RunComfy dashboard and storing it (put-secret-value). No rotation Lambda can issue one.',
  cursorKeyIsEphemeral:
    'The list cursor key only signs pagination tokens that live minutes: rotating it by hand (update the secret) merely ends open cursors; a rotation Lambda would add a function for no security gain.',
  signingKeyRotationIsCoordinated:
    'Webhook receivers verify with this key, so rotation is a coordinated manual step: store "<new> <old>" (both keys sign meanwhile), hand receivers the new key, then drop the old one. An automatic rotation would break every receiver.',
  deadLetterQueueIsTerminal:
    'This queue is itself the dead-letter queue; messages leave it only by an operator redrive after inspection (an alarm fires on the first message).',
  noAsyncInvocations:
    'The function is only invoked synchronously (API Gateway) or by an SQS event source mapping; neither uses a function DLQ. Failed SQS messages go to the queue’s redrive DLQ.',
  scheduledSweepCarriesNothing:
    'The sweeper is invoked only by its schedule rule, with an event that carries no data: a failed sweep loses nothing, because the next tick queries the active-jobs index afresh (it is the retry). A DLQ or failure destination would collect empty events; a failed sweep raises the sweeper’s error alarm.',
  scheduleDeliveryIsLocal:
    'The schedule rule hands a data-free tick to Lambda’s asynchronous queue, which refuses it only when the function or its permission is missing (a deploy fault, not a transient one); an undelivered tick is superseded by the next. A DLQ would hold empty events.',
  sqsMappingUsesQueueDlq:
    'SQS event source mappings take no on-failure destination; failed messages move to the source queue’s DLQ through its redrive policy (maxReceiveCount from contract/resources.ts).',
  sqsManagedSse:
    'Encrypted at rest with SQS-managed SSE (SqsManagedSseEnabled: true); this check only recognises KmsMasterKeyId. Pass encryptionKey for a customer key.',
  noVpcNeeded:
    'The function reaches only public endpoints (RunComfy and AWS APIs over TLS) and no private resources; a VPC would add a NAT gateway and nothing to protect.',
  concurrencyBoundedElsewhere:
    'Concurrency is bounded by the API stage throttle, the SQS mappings’ maxConcurrency and the sweeper’s schedule (one run per tick); reserving it would carve capacity out of the account pool, so it is the reservedConcurrency prop.',
  awsManagedKey:
    'Encrypted with an AWS-managed KMS key; pass encryptionKey to use a customer-managed key instead.',
  lambdaEnvironmentHasNoSecrets:
    'The environment holds only resource names, ARNs and settings (the token is read from Secrets Manager at runtime); Lambda encrypts it at rest. Pass encryptionKey to use a customer key.',
  logGroupServiceEncryption:
    'CloudWatch Logs encrypts log data at rest; the logs carry request metadata, never the token or image data, so a customer key (and its key policy for the logs service) buys nothing here.',
  accessLogTarget:
    'This bucket is the server access log target; logging it to itself (or another bucket) would recurse.',
  writeOnceObjects:
    'Objects are written once under unique keys and expire by lifecycle; versioning would only keep deleted copies. The output bucket offers outputBucketVersioned.',
} as const;

/** The form cdk-nag gives a resource in a finding id: intrinsics flattened to `<LogicalId.Attr>`. */
function nagResource(scope: IConstruct, value: string): string {
  const flatten = (node: unknown): string => {
    if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/}/g, '>');
    if (node && typeof node === 'object') {
      const object = node as Record<string, unknown>;
      if (Array.isArray(object['Fn::Join'])) {
        const [delimiter, items] = object['Fn::Join'] as [string, unknown[]];
        return items.map(flatten).join(delimiter);
      }
      if (object['Fn::GetAtt']) {
        const [resource, attribute] = object['Fn::GetAtt'] as [string, string];
        return `<${resource}.${attribute}>`;
      }
      if (object.Ref) return `<${flatten(object.Ref)}>`;
    }
    return JSON.stringify(node);
  };
  return flatten(Stack.of(scope).resolve(value));
}

function acknowledge(scope: IConstruct, id: string, reason: string) {
  Validations.of(scope).acknowledge({ id, reason });
}

/** Adds a checkov skip to the resource's CloudFormation metadata (checkov reads `Metadata.checkov.skip`). */
export function skipCheckov(scope: IConstruct, id: string, comment: string) {
  const resource = CfnResource.isCfnResource(scope) ? scope : scope.node.defaultChild;
  if (!CfnResource.isCfnResource(resource))
    throw new Error(`no CloudFormation resource under ${scope.node.path}`);
  const existing =
    (resource.getMetadata('checkov') as { skip?: { id: string; comment: string }[] } | undefined)?.skip ?? [];
  resource.addMetadata('checkov', { skip: [...existing, { id, comment }] });
}

/**
 * @param objectGrants the object ARNs (`<bucket>/<prefix>*`) each function was granted, which
 *   cdk-nag reports one finding each for
 */
export function acknowledgeFindings(
  pipeline: AcknowledgedParts,
  props: FluxEditPipelineProps,
  objectGrants: Record<FunctionName, string[]>,
): void {
  const key = props.encryptionKey;

  for (const name of Object.keys(pipeline.functions) as FunctionName[]) {
    const fn = pipeline.functions[name];
    const noDlqReason =
      name === 'sweeper' ? REASONS.scheduledSweepCarriesNothing : REASONS.noAsyncInvocations;
    acknowledge(pipeline.functionRoles[name], 'AwsSolutions-IAM5[Resource::*]', REASONS.xrayNoResourceScope);
    acknowledge(fn, 'Serverless-LambdaDLQ', noDlqReason);
    skipCheckov(fn, 'CKV_AWS_116', noDlqReason);
    skipCheckov(fn, 'CKV_AWS_117', REASONS.noVpcNeeded);
    if (props.reservedConcurrency?.[name] === undefined) {
      skipCheckov(fn, 'CKV_AWS_115', REASONS.concurrencyBoundedElsewhere);
    }
    if (!key) skipCheckov(fn, 'CKV_AWS_173', REASONS.lambdaEnvironmentHasNoSecrets);
    skipCheckov(pipeline.functionLogGroups[name], 'CKV_AWS_158', REASONS.logGroupServiceEncryption);
  }
  for (const [name, resources] of Object.entries(objectGrants) as [FunctionName, string[]][]) {
    for (const resource of new Set(resources)) {
      acknowledge(
        pipeline.functionRoles[name],
        `AwsSolutions-IAM5[Resource::${nagResource(pipeline, resource)}]`,
        REASONS.objectsUnderPrefix,
      );
    }
  }
  for (const queue of Object.keys(QUEUES) as QueueName[]) {
    acknowledge(
      pipeline.functions[QUEUES[queue].consumer],
      'Serverless-LambdaEventSourceMappingDestination',
      REASONS.sqsMappingUsesQueueDlq,
    );
    acknowledge(
      pipeline.deadLetterQueues[queue],
      'Serverless-SQSRedrivePolicy',
      REASONS.deadLetterQueueIsTerminal,
    );
    if (!key) {
      skipCheckov(pipeline.queues[queue], 'CKV_AWS_27', REASONS.sqsManagedSse);
      skipCheckov(pipeline.deadLetterQueues[queue], 'CKV_AWS_27', REASONS.sqsManagedSse);
    }
  }
  // The sweeper's asynchronous invoke config (no retries) has no failure destination, by design.
  acknowledge(
    pipeline.functions.sweeper,
    'Serverless-LambdaAsyncFailureDestination',
    REASONS.scheduledSweepCarriesNothing,
  );
  acknowledge(pipeline.sweeperSchedule, 'Serverless-EventBusDLQ', REASONS.scheduleDeliveryIsLocal);
  skipCheckov(pipeline.apiAccessLogGroup, 'CKV_AWS_158', REASONS.logGroupServiceEncryption);
  if (!key) skipCheckov(pipeline.table, 'CKV_AWS_119', REASONS.awsManagedKey);

  if (!props.existingRunComfyTokenSecret) {
    acknowledge(pipeline.runComfyTokenSecret, 'AwsSolutions-SMG4', REASONS.tokenRotationIsManual);
    if (!key) skipCheckov(pipeline.runComfyTokenSecret, 'CKV_AWS_149', REASONS.awsManagedKey);
  }
  if (!props.existingWebhookSigningSecret) {
    acknowledge(pipeline.webhookSigningSecret, 'AwsSolutions-SMG4', REASONS.signingKeyRotationIsCoordinated);
    if (!key) skipCheckov(pipeline.webhookSigningSecret, 'CKV_AWS_149', REASONS.awsManagedKey);
  }
  acknowledge(pipeline.listCursorSecret, 'AwsSolutions-SMG4', REASONS.cursorKeyIsEphemeral);
  if (!key) skipCheckov(pipeline.listCursorSecret, 'CKV_AWS_149', REASONS.awsManagedKey);
  if (!props.existingOutputBucket) {
    if (!props.outputBucketVersioned)
      skipCheckov(pipeline.outputBucket, 'CKV_AWS_21', REASONS.writeOnceObjects);
    if (!props.accessLogsBucket && pipeline.accessLogsBucket) {
      skipCheckov(pipeline.accessLogsBucket, 'CKV_AWS_18', REASONS.accessLogTarget);
      skipCheckov(pipeline.accessLogsBucket, 'CKV_AWS_21', REASONS.writeOnceObjects);
    }
  }
}
