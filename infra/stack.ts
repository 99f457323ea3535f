import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { EVENTS, QUEUES, type QueueName, ROUTES } from '../contract/index.ts';
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
      description:
        'FLUX.2 [flash] image edits on RunComfy: HTTP API, job table, queues, output bucket, notifications',
      ...props,
    });
    const pipeline = new FluxEditPipeline(this, 'Pipeline', props.pipeline);
    this.pipeline = pipeline;

    const outputs: Record<string, { value: string; description: string }> = {
      ApiUrl: {
        value: pipeline.apiUrl,
        description: `Base URL of the HTTP API (${ROUTES.map((route) => `${route.method} ${route.path}`).join(', ')})`,
      },
      TableName: { value: pipeline.table.tableName, description: 'Job table' },
      BucketName: {
        value: pipeline.outputBucket.bucketName,
        description: 'Bucket of output images and input uploads',
      },
      OutputPrefix: { value: pipeline.outputPrefix, description: 'Key prefix of the output images' },
      UploadPrefix: { value: pipeline.uploadPrefix, description: 'Key prefix of uploaded input images' },
      TopicArn: { value: pipeline.notificationTopic.topicArn, description: 'SNS topic of job completions' },
      EventBusName: {
        value: pipeline.eventBus.eventBusName,
        description: `EventBridge bus: completions ('${EVENTS.jobCompleted}'), and '${EVENTS.jobRequested}' events to submit`,
      },
      SubmitFunctionName: {
        value: pipeline.functions.submit.functionName,
        description: 'Submit function, for direct invocation with an edit request as the event',
      },
      RunComfyTokenSecretArn: {
        value: pipeline.runComfyTokenSecret.secretArn,
        description:
          'Secret holding the RunComfy API token (store the real token here after the first deploy)',
      },
      WebhookSigningSecretArn: {
        value: pipeline.webhookSigningSecret.secretArn,
        description: 'Secret holding the webhook signing key (receivers verify with whsec_<value>)',
      },
      DashboardName: { value: pipeline.dashboard.dashboardName, description: 'CloudWatch dashboard' },
      DashboardUrl: { value: pipeline.dashboardUrl, description: 'CloudWatch dashboard in the console' },
    };
    for (const queue of Object.keys(QUEUES) as QueueName[]) {
      const name = queue.charAt(0).toUpperCase() + queue.slice(1);
      outputs[`${name}QueueUrl`] = {
        value: pipeline.queues[queue].queueUrl,
        description: `The ${queue} queue`,
      };
      outputs[`${name}DeadLetterQueueUrl`] = {
        value: pipeline.deadLetterQueues[queue].queueUrl,
        description: `DLQ of the ${queue} queue`,
      };
    }
    for (const [name, output] of Object.entries(outputs)) new CfnOutput(this, name, output);
  }
}
