import type { Context, ScheduledEvent } from 'aws-lambda';
import { loadConfig } from '#core/config';
import { type SweepSummary, sweepOverdueJobs } from '#core/jobs/sweep-jobs';
import { createJobDeps } from '#shared/job-deps';
import { logger, publishMetrics } from '#shared/powertools';
import { SWEEPER } from '../../infra/definition.ts';

const config = loadConfig();
const deps = createJobDeps(config);

/** EventBridge schedule → end active jobs well past their deadline whose poll chain stopped. */
export const handler = async (_event: ScheduledEvent, context: Context): Promise<SweepSummary> => {
  logger.addContext(context);
  try {
    return await sweepOverdueJobs(deps, {
      graceSeconds: config.sweepGraceSeconds,
      limit: SWEEPER.batchLimit,
    });
  } finally {
    publishMetrics();
  }
};
