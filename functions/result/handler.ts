import { createS3Client } from '#core/aws-clients';
import { loadConfig } from '#core/config';
import { collectResult } from '#core/jobs/collect-result';
import { ResultMessageSchema } from '#core/jobs/messages';
import { createJobDeps } from '#shared/job-deps';
import { sqsBatchHandler } from '#shared/sqs-batch';

const config = loadConfig();
const deps = {
  ...createJobDeps(config),
  s3: createS3Client(),
  output: {
    bucket: config.outputBucket,
    prefix: config.outputPrefix,
    policy: {
      allowedHosts: config.outputHostAllowlist,
      maxBytes: config.outputMaxBytes,
      allowLoopbackHttp: config.allowLoopbackHttp,
    },
  },
};

/** SQS result queue → copy a finished job's outputs into S3, record its end, notify. */
export const handler = sqsBatchHandler(ResultMessageSchema, (message, _record, log) =>
  collectResult({ ...deps, log }, message),
);
