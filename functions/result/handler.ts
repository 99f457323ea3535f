import { createAwsNotifier } from '#adapters/aws/aws-notifier';
import { createS3Client } from '#adapters/aws/s3-client';
import { S3OutputStore } from '#adapters/aws/s3-output-store';
import { S3Presigner } from '#adapters/aws/s3-presigner';
import { loadConfig } from '#contract/config';
import { collectResult } from '#core/jobs/collect-result';
import { ResultMessageSchema } from '#core/jobs/messages';
import { RunComfyClient } from '#core/runcomfy/client';
import { makeSqsHandler } from '#shared/handler';
import { createJobDeps } from '#shared/job-deps';
import { logger } from '#shared/powertools';

const config = loadConfig();
const s3 = createS3Client();
const presigner = new S3Presigner(s3);
const deps = {
  // Every collection fetches RunComfy's result, copies to S3 and notifies: those clients are
  // made at init here.
  ...createJobDeps(config, 'result', {
    notifier: createAwsNotifier({ topicArn: config.topicArn, eventBusName: config.eventBusName }),
    runComfyClient: RunComfyClient,
    presigner: async () => presigner,
  }),
  outputs: new S3OutputStore(s3, presigner, {
    bucket: config.outputBucket,
    prefix: config.outputPrefix,
    policy: {
      allowedHosts: config.outputHostAllowlist,
      maxBytes: config.outputMaxBytes,
      allowLoopbackHttp: config.allowLoopbackHttp,
    },
    log: logger,
  }),
};

/** SQS result queue → collect a finished run into S3, record the job's end, notify. */
export const handler = makeSqsHandler(ResultMessageSchema, (message, _record, { log }) =>
  collectResult({ ...deps, log }, message),
);
