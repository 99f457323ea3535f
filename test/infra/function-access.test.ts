import type { Stack } from 'aws-cdk-lib';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS, type FunctionName, TABLE } from '../../contract/index.ts';
import { resourceOf, resourcesOfType, type Synthesized, synth, synthConstruct } from './synth.ts';

const functionNames = Object.keys(FUNCTIONS) as FunctionName[];

/** Names the pipeline's resources by role, so expected policies read like a spec. */
function resourceNames(synthesized: Synthesized<Stack>): Map<string, string> {
  const { pipeline, logicalId } = synthesized;
  const named: [IConstruct, string][] = [
    [pipeline.table, 'table'],
    [pipeline.queues.submit, 'submitQueue'],
    [pipeline.queues.poll, 'pollQueue'],
    [pipeline.queues.result, 'resultQueue'],
    [pipeline.queues.webhook, 'webhookQueue'],
    [pipeline.queues.batch, 'batchQueue'],
    [pipeline.webhookSigningSecret, 'webhookSecret'],
    [pipeline.notificationTopic, 'topic'],
    [pipeline.eventBus, 'eventBus'],
    [pipeline.runComfyTokenSecret, 'secret'],
    [pipeline.listCursorSecret, 'listCursorSecret'],
    ...functionNames.map((name) => [pipeline.functionLogGroups[name], `${name}Logs`] as [IConstruct, string]),
  ];
  if (pipeline.outputBucket.node.defaultChild) named.push([pipeline.outputBucket, 'outputBucket']);
  if (pipeline.encryptionKey) named.push([pipeline.encryptionKey, 'key']);
  return new Map(named.map(([construct, name]) => [logicalId(construct), name]));
}

function render(value: unknown, names: Map<string, string>): string {
  if (typeof value === 'string') return value;
  const node = value as Record<string, unknown>;
  if (node['Fn::GetAtt']) {
    const [id, attribute] = node['Fn::GetAtt'] as [string, string];
    return attribute === 'Arn' ? (names.get(id) ?? `<${id}.Arn>`) : `<${id}.${attribute}>`;
  }
  if (node.Ref) return names.get(node.Ref as string) ?? `<${node.Ref}>`;
  if (node['Fn::Join']) {
    const [delimiter, parts] = node['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => render(part, names)).join(delimiter);
  }
  return JSON.stringify(value);
}

/** Every `action resource` pair the function's role is allowed, across all policies attached to it. */
function allowedPairs(synthesized: Synthesized<Stack>, name: FunctionName): string[] {
  const { template, pipeline, logicalId } = synthesized;
  const names = resourceNames(synthesized);
  const roleId = logicalId(pipeline.functionRoles[name]);
  const pairs = new Set<string>();
  for (const [, policy] of resourcesOfType(template, 'AWS::IAM::Policy')) {
    if (!JSON.stringify(policy.Properties.Roles).includes(`"${roleId}"`)) continue;
    for (const statement of policy.Properties.PolicyDocument.Statement) {
      expect(statement.Effect).toBe('Allow');
      for (const action of [statement.Action].flat()) {
        for (const resource of [statement.Resource].flat()) pairs.add(`${action} ${render(resource, names)}`);
      }
    }
  }
  return [...pairs].sort();
}

/** Logs and traces: what every function may do. */
const observability = (name: FunctionName) => [
  `logs:CreateLogStream ${name}Logs`,
  `logs:PutLogEvents ${name}Logs`,
  'xray:PutTelemetryRecords *',
  'xray:PutTraceSegments *',
];

/** What every function that can end a job may do: announce it and start its webhook. */
const announces = ['sqs:SendMessage webhookQueue', 'sns:Publish topic', 'events:PutEvents eventBus'];

/** What every function that calls RunComfy may do: read its token. */
const callsRunComfy = ['secretsmanager:GetSecretValue secret', 'secretsmanager:DescribeSecret secret'];

const consumes = (queue: string) =>
  ['ReceiveMessage', 'ChangeMessageVisibility', 'DeleteMessage', 'GetQueueAttributes', 'GetQueueUrl'].map(
    (action) => `sqs:${action} ${queue}`,
  );

/** ListBucket, only under the output prefix (a condition the pairs do not show). */
const listsOutputs = 's3:ListBucket outputBucket';

/** The specification, written out independently of infra/defaults/function-access.ts. */
const EXPECTED: Record<FunctionName, string[]> = {
  // Records jobs and starts their chains; never calls RunComfy (the poller submits).
  submit: [
    ...observability('submit'),
    ...announces,
    'dynamodb:GetItem table',
    'dynamodb:PutItem table',
    'dynamodb:UpdateItem table',
    'dynamodb:DeleteItem table',
    // Admission on arrival: nobody may wait ahead.
    `dynamodb:Query table/index/${TABLE.waitingIndex.name}`,
    'sqs:SendMessage pollQueue',
    ...consumes('submitQueue'),
  ],
  // Cancels queue their notification on the result queue rather than sending it; lists read the
  // list indexes and the page's jobs by key; deletes leave a tombstone and remove the outputs.
  jobs: [
    ...observability('jobs'),
    ...callsRunComfy,
    'dynamodb:GetItem table',
    'dynamodb:BatchGetItem table',
    'dynamodb:UpdateItem table',
    'dynamodb:PutItem table',
    'dynamodb:DeleteItem table',
    ...Object.values(TABLE.listIndexes).map((index) => `dynamodb:Query table/index/${index.name}`),
    `dynamodb:Query table/index/${TABLE.waitingIndex.name}`,
    'sqs:SendMessage pollQueue',
    'sqs:SendMessage resultQueue',
    'sqs:SendMessage webhookQueue',
    'sqs:SendMessage batchQueue',
    's3:GetObject outputBucket/edits/*',
    's3:DeleteObject outputBucket/edits/*',
    listsOutputs,
    's3:PutObject outputBucket/uploads/*',
    // An inline batch's lines, as its manifest.
    's3:PutObject outputBucket/edits/batches/*',
    'secretsmanager:GetSecretValue listCursorSecret',
    'secretsmanager:DescribeSecret listCursorSecret',
    'events:PutEvents eventBus',
  ],
  poller: [
    ...observability('poller'),
    ...announces,
    ...callsRunComfy,
    'dynamodb:GetItem table',
    'dynamodb:BatchGetItem table',
    'dynamodb:UpdateItem table',
    // The line of jobs waiting for admission.
    `dynamodb:Query table/index/${TABLE.waitingIndex.name}`,
    'sqs:SendMessage pollQueue',
    'sqs:SendMessage resultQueue',
    // The last job of a batch to end queues the batch's completion.
    'sqs:SendMessage batchQueue',
    's3:GetObject outputBucket/uploads/*',
    ...consumes('pollQueue'),
  ],
  result: [
    ...observability('result'),
    ...announces,
    ...callsRunComfy,
    'dynamodb:GetItem table',
    'dynamodb:UpdateItem table',
    'sqs:SendMessage resultQueue',
    'sqs:SendMessage batchQueue',
    's3:GetObject outputBucket/edits/*',
    's3:PutObject outputBucket/edits/*',
    's3:AbortMultipartUpload outputBucket/edits/*',
    's3:DeleteObject outputBucket/edits/*',
    listsOutputs,
    ...consumes('resultQueue'),
  ],
  webhook: [
    ...observability('webhook'),
    'dynamodb:GetItem table',
    'dynamodb:UpdateItem table',
    'sqs:SendMessage webhookQueue',
    'secretsmanager:GetSecretValue webhookSecret',
    'secretsmanager:DescribeSecret webhookSecret',
    ...consumes('webhookQueue'),
  ],
  // Not a queue consumer: invoked by its schedule rule (a resource policy, not a role grant).
  sweeper: [
    ...observability('sweeper'),
    ...announces,
    ...callsRunComfy,
    'dynamodb:GetItem table',
    'dynamodb:BatchGetItem table',
    'dynamodb:UpdateItem table',
    // Query on the sparse indexes only: never on the table itself.
    `dynamodb:Query table/index/${TABLE.sweepIndex.name}`,
    `dynamodb:Query table/index/${TABLE.waitingIndex.name}`,
    'sqs:SendMessage pollQueue',
    'sqs:SendMessage resultQueue',
    // A batch whose step stalled, or whose completion was never queued.
    'sqs:SendMessage batchQueue',
    's3:DeleteObject outputBucket/edits/*',
    listsOutputs,
  ],
  // Validates manifests, makes the lines' jobs, cancels batches, completes them.
  batch: [
    ...observability('batch'),
    ...announces.filter((pair) => !pair.includes('webhookQueue')),
    ...callsRunComfy,
    'dynamodb:GetItem table',
    'dynamodb:BatchGetItem table',
    'dynamodb:PutItem table',
    'dynamodb:UpdateItem table',
    // (Not the line: a cancel leaves the slots it frees to a dispatcher, as the API's does.)
    ...Object.values(TABLE.listIndexes).map((index) => `dynamodb:Query table/index/${index.name}`),
    'sqs:SendMessage batchQueue',
    'sqs:SendMessage pollQueue',
    'sqs:SendMessage resultQueue',
    // A caller's manifest, sized and copied; the batch's own files.
    's3:GetObject outputBucket/uploads/*',
    's3:GetObject outputBucket/edits/batches/*',
    's3:PutObject outputBucket/edits/batches/*',
    ...consumes('batchQueue'),
  ],
};

describe('Function access (IAM)', () => {
  let synthesized: Synthesized;
  beforeAll(() => {
    synthesized = synth({}, { bundle: false });
  });

  it.each(functionNames)('allows the %s function exactly its actions, each on its own resource', (name) => {
    expect(allowedPairs(synthesized, name)).toEqual([...EXPECTED[name]].sort());
  });

  it.each(functionNames)(
    'gives the %s function its own Lambda-only role with no managed or inline policies',
    (name) => {
      const { template, pipeline, logicalId } = synthesized;
      const role = resourceOf(template, logicalId(pipeline.functionRoles[name])).Properties;
      expect(role.ManagedPolicyArns).toBeUndefined();
      expect(role.Policies).toBeUndefined();
      expect(role.AssumeRolePolicyDocument.Statement).toEqual([
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
      ]);
    },
  );

  it('scopes object access of an existing bucket to its prefixes, and input reads to the allowlist', () => {
    // Act
    const existing = synthConstruct((stack) => ({
      existingOutputBucket: Bucket.fromBucketName(stack, 'Existing', 'existing-outputs'),
      outputPrefix: 'flux/out/',
      inputS3Allowlist: ['other-bucket/in/', 'whole-bucket/'],
    }));

    // Assess
    const objects = (prefix: string) => `arn:<AWS::Partition>:s3:::${prefix}*`;
    const withoutObjects = (name: FunctionName) => EXPECTED[name].filter((pair) => !pair.startsWith('s3:'));
    const inputReads = [
      `s3:GetObject ${objects('other-bucket/in/')}`,
      `s3:GetObject ${objects('whole-bucket/')}`,
    ];
    expect(allowedPairs(existing, 'submit')).toEqual([...withoutObjects('submit')].sort());
    expect(allowedPairs(existing, 'poller')).toEqual([...withoutObjects('poller'), ...inputReads].sort());
    expect(allowedPairs(existing, 'jobs')).toEqual(
      [
        ...withoutObjects('jobs'),
        `s3:GetObject ${objects('existing-outputs/flux/out/')}`,
        `s3:DeleteObject ${objects('existing-outputs/flux/out/')}`,
        's3:ListBucket arn:<AWS::Partition>:s3:::existing-outputs',
        `s3:PutObject ${objects('existing-outputs/uploads/')}`,
        `s3:PutObject ${objects('existing-outputs/flux/out/batches/')}`,
      ].sort(),
    );
    expect(allowedPairs(existing, 'result')).toEqual(
      [
        ...withoutObjects('result'),
        ...['GetObject', 'PutObject', 'AbortMultipartUpload', 'DeleteObject'].map(
          (action) => `s3:${action} ${objects('existing-outputs/flux/out/')}`,
        ),
        's3:ListBucket arn:<AWS::Partition>:s3:::existing-outputs',
      ].sort(),
    );
  });

  it('adds exactly encrypt, decrypt and data-key actions on a customer key to every function', () => {
    // Act
    const keyed = synthConstruct((stack) => ({ encryptionKey: new Key(stack, 'Key') }));

    // Assess
    for (const name of functionNames) {
      expect(allowedPairs(keyed, name)).toEqual(
        [...EXPECTED[name], 'kms:Decrypt key', 'kms:Encrypt key', 'kms:GenerateDataKey key'].sort(),
      );
    }
  });
});
