import { AwsNotifier } from '#adapters/aws/aws-notifier';
import {
  createDynamoDocumentClient,
  createEventBridgeClient,
  createS3Client,
  createSnsClient,
  createSqsClient,
} from '#adapters/aws/clients';
import { DynamoAdmissionStore } from '#adapters/aws/dynamo-admission';
import { DynamoBatchStore } from '#adapters/aws/dynamo-batch-store';
import { DynamoJobStore } from '#adapters/aws/dynamo-job-store';
import { SqsJobQueues } from '#adapters/aws/sqs-job-queues';
import { RUNCOMFY_TIMING } from '#contract/budgets';
import type { Config } from '#contract/config';
import type { FunctionName } from '#contract/resources';
import { systemClock } from '#core/clock';
import { parseS3Allowlist, resolveImageUrls } from '#core/inputs/s3-inputs';
import type { JobDeps } from '#core/jobs/deps';
import type { Presigner, RunComfy } from '#core/ports';
import { RunComfyClient } from '#core/runcomfy/index';
import { logger, metricSink } from './powertools.ts';
import { runComfyTokenSource } from './runcomfy-token.ts';

/**
 * Builds the job core's dependencies for one function from the validated settings, once per
 * container: the AWS adapters, and a RunComfy client timed by the function's budget. The local
 * runtime runs the same handlers, so it builds them the same way.
 */
export function createJobDeps(config: Config, fn: FunctionName): JobDeps {
  const sqs = createSqsClient();
  const dynamo = createDynamoDocumentClient();
  let presigner: Promise<Presigner> | undefined;
  return {
    config,
    clock: systemClock,
    log: logger,
    metrics: metricSink,
    store: new DynamoJobStore(dynamo, config.jobsTable, config.jobRetentionDays),
    admission: new DynamoAdmissionStore(dynamo, config.jobsTable),
    // A batch job that ends is counted in its batch, whichever function ends it.
    batches: new DynamoBatchStore(dynamo, config.jobsTable, config.jobRetentionDays),
    queues: new SqsJobQueues(sqs, {
      poll: config.pollQueueUrl,
      result: config.resultQueueUrl,
      webhook: config.webhookQueueUrl,
      batch: config.batchQueueUrl,
    }),
    runComfy: runComfyFor(config, fn),
    inputs: {
      policy: parseS3Allowlist(config.inputS3Allowlist, {
        bucket: config.outputBucket,
        prefix: config.uploadPrefix,
      }),
      resolve: async (imageUrls) => {
        if (!imageUrls.some((url) => url.startsWith('s3://'))) return [...imageUrls];
        // Only jobs with `s3://` inputs need it: the S3 client stays unloaded otherwise.
        presigner ??= createPresigner();
        return resolveImageUrls(imageUrls, await presigner);
      },
    },
    notifier: new AwsNotifier(createSnsClient(), createEventBridgeClient(), {
      topicArn: config.topicArn,
      eventBusName: config.eventBusName,
    }),
  };
}

/** The presigner, loaded on first use. */
export async function createPresigner(): Promise<Presigner> {
  const { S3Presigner } = await import('#adapters/aws/s3-presigner');
  return new S3Presigner(createS3Client());
}

/** RunComfy for `fn`, timed by its budget; a function without one never calls RunComfy. */
function runComfyFor(config: Config, fn: FunctionName): RunComfy {
  const timing = RUNCOMFY_TIMING[fn];
  if (!timing) {
    const refuse = async (): Promise<never> => {
      throw new Error(`the ${fn} function does not call RunComfy`);
    };
    return { submit: refuse, status: refuse, result: refuse, cancel: refuse };
  }
  return new RunComfyClient({
    baseUrl: config.runComfyBaseUrl,
    token: runComfyTokenSource(config),
    log: logger,
    ...timing,
  });
}
