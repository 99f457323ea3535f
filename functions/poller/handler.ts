import { loadConfig } from '#contract/config';
import { PollMessageSchema } from '#core/jobs/messages';
import { pollJob } from '#core/jobs/poll-job';
import { makeSqsHandler } from '#shared/handler';
import { createJobDeps } from '#shared/job-deps';

const deps = createJobDeps(loadConfig(), 'poller');

/** SQS poll queue → one heartbeat of each job's poll chain (the first one submits the job). */
export const handler = makeSqsHandler(PollMessageSchema, (message, record, { log }) =>
  pollJob({ ...deps, log }, message, record.messageId),
);
