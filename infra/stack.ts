import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { FluxEditPipeline, type FluxEditPipelineProps } from './flux-edit-pipeline.ts';

export interface FluxEditPipelineStackProps extends StackProps {
  /**
   * Configuration of the pipeline.
   * @default - the construct's defaults
   */
  readonly pipeline?: FluxEditPipelineProps;
}

/**
 * One pipeline per stack, plus the outputs a deployer and a client need. Output names are a
 * stack-level contract (clients read them with `aws cloudformation describe-stacks`), so they
 * live here rather than in the reusable construct.
 */
export class FluxEditPipelineStack extends Stack {
  readonly pipeline: FluxEditPipeline;

  constructor(scope: Construct, id: string, props: FluxEditPipelineStackProps = {}) {
    super(scope, id, {
      description: 'FLUX.2 [flash] image edits on RunComfy: HTTP API, job table, queues, output bucket, notifications',
      ...props,
    });
    const pipeline = new FluxEditPipeline(this, 'Pipeline', props.pipeline);
    this.pipeline = pipeline;

    const outputs: Record<string, { value: string; description: string }> = {
      ApiUrl: { value: pipeline.apiUrl, description: 'Base URL of the HTTP API (routes: POST /edits, GET /edits/{id}, POST /edits/{id}/cancel)' },
      TableName: { value: pipeline.table.tableName, description: 'Job table' },
      BucketName: { value: pipeline.outputBucket.bucketName, description: 'Bucket receiving the output images' },
      OutputPrefix: { value: pipeline.outputPrefix, description: 'Key prefix of the output images' },
      TopicArn: { value: pipeline.notificationTopic.topicArn, description: 'SNS topic of job completions' },
      EventBusName: { value: pipeline.eventBus.eventBusName, description: 'EventBridge bus of job completions' },
      PollQueueUrl: { value: pipeline.queues.poll.queueUrl, description: 'Poll queue' },
      ResultQueueUrl: { value: pipeline.queues.result.queueUrl, description: 'Result queue' },
      PollDeadLetterQueueUrl: { value: pipeline.deadLetterQueues.poll.queueUrl, description: 'DLQ of the poll queue' },
      ResultDeadLetterQueueUrl: { value: pipeline.deadLetterQueues.result.queueUrl, description: 'DLQ of the result queue' },
      RunComfyTokenSecretArn: {
        value: pipeline.runComfyTokenSecret.secretArn,
        description: 'Secret holding the RunComfy API token (store the real token here after the first deploy)',
      },
      DashboardName: { value: pipeline.dashboard.dashboardName, description: 'CloudWatch dashboard' },
      DashboardUrl: { value: pipeline.dashboardUrl, description: 'CloudWatch dashboard in the console' },
    };
    for (const [name, output] of Object.entries(outputs)) new CfnOutput(this, name, output);
  }
}
