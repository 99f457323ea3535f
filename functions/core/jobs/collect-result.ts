import type { S3Client } from '@aws-sdk/client-s3';
import { copyOutputs, type DownloadPolicy, OutputCopyError } from '../outputs/index.ts';
import { RunComfyError } from '../runcomfy/index.ts';
import type { JobDeps } from './deps.ts';
import { ensureNotified, finishJob } from './finish-job.ts';
import { isTerminal } from './job.ts';
import type { ResultMessage } from './messages.ts';
import { retryDelaySeconds } from './poll-schedule.ts';

export interface ResultDeps extends JobDeps {
  s3: S3Client;
  output: { bucket: string; prefix: string; policy: DownloadPolicy };
}

/** Result fetches and copies retried for passing trouble before the job is failed. */
export const MAX_RESULT_ATTEMPTS = 5;

export type ResultOutcome = 'dropped' | 'notified' | 'finished' | 'retry_later';

/**
 * Ends a job whose upstream run finished: fetches RunComfy's result, copies every output into
 * the bucket (RunComfy's URLs are temporary), records the one terminal state and notifies.
 * Passing trouble (rate limits, outages, a result not ready yet, a failed download) is retried
 * through the result queue with backoff, a bounded number of times, so the job always ends.
 */
export async function collectResult(deps: ResultDeps, message: ResultMessage): Promise<ResultOutcome> {
  const job = await deps.store.get(message.jobId);
  if (!job) {
    deps.log.warn('result message for an unknown job; dropped', { jobId: message.jobId });
    return 'dropped';
  }
  if (isTerminal(job.status)) {
    if (job.notifiedAt) return 'dropped';
    await ensureNotified(deps, job);
    return 'notified';
  }
  if (!job.requestId) {
    deps.log.error('result message for a job never submitted; dropped', { jobId: job.id });
    return 'dropped';
  }

  /** Schedules another attempt; false once the attempts are used up and the job must end. */
  const retryLater = async (reason: Record<string, unknown>, retryAfterMs?: number): Promise<boolean> => {
    const attempt = message.attempt + 1;
    if (attempt >= MAX_RESULT_ATTEMPTS) return false;
    deps.log.warn('result not collected yet; retrying', { jobId: job.id, attempt, ...reason });
    await deps.queues.scheduleResult({ jobId: job.id, attempt }, retryDelaySeconds(attempt, retryAfterMs));
    return true;
  };

  let result: Awaited<ReturnType<JobDeps['runComfy']['result']>>;
  try {
    result = await deps.runComfy.result(job.requestId);
  } catch (error) {
    if (!(error instanceof RunComfyError)) throw error;
    const upstream = {
      kind: error.kind,
      code: error.code,
      http_status: error.httpStatus,
      message: error.message,
    };
    if (error.kind !== 'not_found' && (await retryLater(upstream, error.retryAfterMs))) {
      return 'retry_later';
    }
    await finishJob(deps, job.id, {
      status: 'failed',
      error: { code: 'UPSTREAM_LOST', message: 'RunComfy’s result for this job could not be read', upstream },
    });
    return 'finished';
  }

  switch (result.state) {
    case 'succeeded':
      return copyAndSucceed(deps, job.id, result.outputUrls, retryLater);
    case 'failed':
      await finishJob(deps, job.id, {
        status: 'failed',
        error: {
          code: 'UPSTREAM_FAILED',
          message: result.error?.message ?? 'RunComfy reported the job failed',
          upstream: result.error?.raw,
        },
      });
      return 'finished';
    case 'cancelled':
      await finishJob(deps, job.id, { status: 'cancelled' });
      return 'finished';
    default: {
      // The status endpoint said finished but the result is not there yet, or is a shape we do
      // not know: look again shortly, then give up with the raw status on record.
      if (await retryLater({ upstream_status: result.rawStatus })) return 'retry_later';
      await finishJob(deps, job.id, {
        status: 'failed',
        error: {
          code: 'UPSTREAM_LOST',
          message: `RunComfy’s result never became final (last status: ${result.rawStatus})`,
        },
      });
      return 'finished';
    }
  }
}

async function copyAndSucceed(
  deps: ResultDeps,
  jobId: string,
  urls: string[],
  retryLater: (reason: Record<string, unknown>) => Promise<boolean>,
): Promise<ResultOutcome> {
  if (urls.length === 0) {
    await finishJob(deps, jobId, {
      status: 'failed',
      error: { code: 'UPSTREAM_FAILED', message: 'RunComfy reported success but returned no output images' },
    });
    return 'finished';
  }
  try {
    const nowIso = new Date(deps.clock.now()).toISOString();
    await deps.store.update(
      jobId,
      { set: { status: 'running', copyingSince: nowIso }, remove: ['queuePosition'] },
      { statusIn: ['queued', 'running'] },
      nowIso,
    );
    const outputs = await copyOutputs({
      s3: deps.s3,
      bucket: deps.output.bucket,
      prefix: deps.output.prefix,
      jobId,
      urls,
      policy: deps.output.policy,
      log: deps.log,
    });
    await finishJob(deps, jobId, { status: 'succeeded', set: { outputs } });
    return 'finished';
  } catch (error) {
    if (!(error instanceof OutputCopyError)) throw error;
    // A 5xx, a timeout or an S3 hiccup may pass; a refused host, a 404 or a non-image will not.
    if (error.retryable && (await retryLater({ reason: error.reason, message: error.message }))) {
      return 'retry_later';
    }
    await finishJob(deps, jobId, {
      status: 'failed',
      error: {
        code: 'OUTPUT_COPY_FAILED',
        message: error.message,
        upstream: { reason: error.reason, url: error.url },
      },
    });
    return 'finished';
  }
}
