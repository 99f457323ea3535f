import type { ScheduledEvent } from 'aws-lambda';
import { worstCaseMs } from '#contract/budgets';
import { loadConfig } from '#contract/config';
import { SWEEPER } from '#contract/resources';
import { type SweepSummary, sweepDueJobs } from '#core/jobs/sweep-jobs';
import { makeHandler } from '#shared/handler';
import { createJobDeps } from '#shared/job-deps';
import { lazyOutputStore } from '#shared/lazy-output-store';
import { loadRunComfyClient } from '#shared/lazy-runcomfy';
import { lazyPresigner } from '#shared/lazy-s3';

const config = loadConfig();
const deps = {
  // A restarted submission may carry `s3://` inputs: S3 is loaded by the first one.
  ...createJobDeps(config, 'sweeper', { presigner: lazyPresigner(), loadRunComfyClient }),
  // Only to delete what a failed collection left behind: S3 is loaded by the first such job.
  outputs: lazyOutputStore(config),
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
