import type { Stack } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV, FUNCTIONS, QUEUES, visibilityTimeoutSeconds } from '../../contract/index.ts';
import { resourceOf, resourcesOfType, type Synthesized, synth, synthConstruct } from './synth.ts';
import { nagFindings } from './template-checks.ts';

/**
 * The batch queue and the batch function in the synthesized template, spelled out: the generic
 * template tests cover every queue and function alike; these pin what batches rely on (a DLQ
 * with an alarm, one message per invocation, a role that reaches only the batch's own objects).
 */
describe('Batches in the template', () => {
  let synthesized: Synthesized<Stack>;
  beforeAll(() => {
    synthesized = synth({}, { bundle: false });
  });

  it('gives the batch queue an encrypted DLQ with an alarm, and a visibility timeout past its function’s', () => {
    const { template, pipeline, logicalId } = synthesized;
    const queue = resourceOf(template, logicalId(pipeline.queues.batch)).Properties;
    const dlqId = logicalId(pipeline.deadLetterQueues.batch);

    expect(queue.RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
      maxReceiveCount: QUEUES.batch.maxReceiveCount,
    });
    expect(queue.VisibilityTimeout).toBe(visibilityTimeoutSeconds('batch'));
    expect(queue.VisibilityTimeout).toBeGreaterThanOrEqual(6 * FUNCTIONS.batch.timeoutSeconds);
    expect(queue.SqsManagedSseEnabled).toBe(true);
    expect(resourceOf(template, dlqId).Properties.SqsManagedSseEnabled).toBe(true);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId, 'QueueName'] } }],
      Threshold: 1,
    });
    expect(pipeline.alarms.deadLetterQueues.batch).toBeDefined();
  });

  it('feeds the batch function one message at a time, with partial batch responses, at bounded concurrency', () => {
    const { template, pipeline, logicalId } = synthesized;
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalId(pipeline.queues.batch), 'Arn'] },
      FunctionName: { Ref: logicalId(pipeline.functions.batch) },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: QUEUES.batch.maxConcurrency },
    });
    const fn = resourceOf(template, logicalId(pipeline.functions.batch)).Properties;
    expect(fn.Timeout).toBe(FUNCTIONS.batch.timeoutSeconds);
    expect(fn.Environment.Variables[ENV.batchQueueUrl]).toEqual({ Ref: logicalId(pipeline.queues.batch) });
  });

  it('lets the batch function reach objects only under the uploads and the batches’ own prefix, and never scan', () => {
    const { template, pipeline, logicalId } = synthesized;
    const roleId = logicalId(pipeline.functionRoles.batch);
    const statements = resourcesOfType(template, 'AWS::IAM::Policy')
      .filter(([, policy]) => JSON.stringify(policy.Properties.Roles).includes(`"${roleId}"`))
      .flatMap(([, policy]) => policy.Properties.PolicyDocument.Statement as Record<string, unknown>[]);
    const actions = statements.flatMap((statement) => [statement.Action].flat() as string[]);

    expect(actions).not.toContain('dynamodb:Scan');
    expect(actions.filter((action) => action.endsWith('*'))).toEqual([]);
    const objectResources = statements
      .filter((statement) =>
        ([statement.Action].flat() as string[]).some((action) => action.startsWith('s3:')),
      )
      .flatMap((statement) => [statement.Resource].flat())
      .map((resource) => JSON.stringify(resource));
    expect(objectResources.length).toBeGreaterThan(0);
    for (const resource of objectResources) expect(resource).toMatch(/\/(uploads|edits\/batches)\/\*"/);
    // Who may send to the batch queue: the functions that start or finish a batch's steps.
    const senders = resourcesOfType(template, 'AWS::IAM::Policy')
      .filter(([, policy]) =>
        (policy.Properties.PolicyDocument.Statement as Record<string, unknown>[]).some(
          (statement) =>
            [statement.Action].flat().includes('sqs:SendMessage') &&
            JSON.stringify(statement.Resource).includes(`"${logicalId(pipeline.queues.batch)}"`),
        ),
      )
      .map(([, policy]) => JSON.stringify(policy.Properties.Roles));
    const roles = (['jobs', 'poller', 'result', 'sweeper', 'batch'] as const).map((name) =>
      logicalId(pipeline.functionRoles[name]),
    );
    expect(senders.length).toBe(roles.length);
    for (const role of roles) expect(senders.some((list) => list.includes(`"${role}"`))).toBe(true);
  });

  it('passes cdk-nag on the batch queue, its DLQ and the batch function', () => {
    const { app } = synthConstruct(() => ({}));
    const findings = nagFindings(app).filter((finding) => /[Bb]atch/.test(finding));
    expect(findings).toEqual([]);
  });
});
