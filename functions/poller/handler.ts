import { PollMessageSchema } from '#core/jobs/messages';
import { pollJob } from '#core/jobs/poll-job';
import { createJobDeps } from '#shared/job-deps';
import { sqsBatchHandler } from '#shared/sqs-batch';

const deps = createJobDeps();

/** SQS poll queue → one heartbeat of each job's poll chain. */
export const handler = sqsBatchHandler(PollMessageSchema, (message, record, log) =>
  pollJob({ ...deps, log }, message, record.messageId),
);
