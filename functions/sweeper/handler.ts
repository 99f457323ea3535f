import type { ScheduledEvent } from 'aws-lambda';
import { createS3Client } from '#adapters/aws/clients';
import { S3OutputStore } from '#adapters/aws/s3-output-store';
import { S3Presigner } from '#adapters/aws/s3-presigner';
import { worstCaseMs } from '#contract/budgets';
import { loadConfig } from '#contract/config';
import { SWEEPER } from '#contract/resources';
import { type SweepSummary, sweepDueJobs } from '#core/jobs/sweep-jobs';
import { makeHandler } from '#shared/handler';
import { createJobDeps } from '#shared/job-deps';
import { logger } from '#shared/powertools';

const config = loadConfig();
const s3 = createS3Client();
const deps = {
  ...createJobDeps(config, 'sweeper'),
  // Only to delete what a failed collection left behind.
  outputs: new S3OutputStore(s3, new S3Presigner(s3), {
    bucket: config.outputBucket,
    prefix: config.outputPrefix,
    policy: { allowedHosts: [], maxBytes: 1, allowLoopbackHttp: false },
    log: logger,
  }),
};

/** EventBridge schedule → look after the jobs that are due (stopped chains, stalled collections, unsent notifications). */
export const handler = makeHandler<ScheduledEvent, SweepSummary>((_event, { log, context }) =>
  sweepDueJobs(
    { ...deps, log },
    {
      limit: SWEEPER.batchLimit,
      remainingMs: () => context.getRemainingTimeInMillis(),
      perJobMs: worstCaseMs('sweeper'),
    },
  ),
);
