import { loadConfig } from '#contract/config';
import { onDispatchNudge } from '#core/jobs/admission';
import { PollQueueMessageSchema } from '#core/jobs/messages';
import { pollJob } from '#core/jobs/poll-job';
import { RunComfyClient } from '#core/runcomfy/client';
import { makeSqsHandler } from '#shared/handler';
import { createJobDeps } from '#shared/job-deps';
import { lazyPresigner } from '#shared/lazy-s3';

// Every heartbeat asks RunComfy: its client is made at init, not on the first message. An
// `s3://` input is rare: S3 is loaded by the first one.
const deps = createJobDeps(loadConfig(), 'poller', {
  runComfyClient: RunComfyClient,
  presigner: lazyPresigner(),
});

/**
 * SQS poll queue → one heartbeat of each job's poll chain (the first one submits the job), or a
 * nudge to admit waiting jobs into free RunComfy slots (giving back the slot of a job that ended
 * where there was no time to).
 */
export const handler = makeSqsHandler(PollQueueMessageSchema, (message, record, { log }) =>
  'dispatch' in message
    ? onDispatchNudge({ ...deps, log }, message)
    : pollJob({ ...deps, log }, message, record.messageId),
);
