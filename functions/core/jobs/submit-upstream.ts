import { submittedEvent } from '../notify/events.ts';
import { announceBestEffort } from '../notify/notifier.ts';
import { RunComfyError } from '../runcomfy/index.ts';
import type { JobDeps } from './deps.ts';
import { finishJob } from './finish-job.ts';
import { iso, type Job } from './job.ts';
import { retryDelaySeconds } from './poll-schedule.ts';

/** How long a submission may be in flight before a job that never heard back counts as lost. */
export const SUBMIT_IN_FLIGHT_MS = 60_000;

export type SubmitOutcome =
  | { kind: 'submitted'; job: Job }
  | { kind: 'retry_later'; delaySeconds: number; job: Job }
  | { kind: 'finished'; job: Job | undefined }
  | { kind: 'skipped'; job: Job | undefined };

/**
 * Submits a queued job to RunComfy at most once per attempt, and never again once the outcome
 * of an attempt is unknown: RunComfy has no idempotency key, so a blind retry can pay twice.
 *
 * - accepted: records the request id;
 * - refused for now (429, 5xx, connection refused; nothing was created): frees the job for a
 *   later attempt by its poll chain, with backoff, until the deadline;
 * - refused for good (input, auth, billing, model): fails the job `UPSTREAM_REJECTED`;
 * - no answer after the request was sent: fails the job `UPSTREAM_LOST`.
 */
export async function submitUpstream(deps: JobDeps, job: Job): Promise<SubmitOutcome> {
  const nowMs = deps.clock.now();
  const claimed = await deps.store.update(
    job.id,
    { set: { submitAttempts: job.submitAttempts + 1, submittingSince: iso(nowMs) } },
    {
      statusIn: ['queued'],
      absent: ['requestId', 'submittingSince'],
      equals: { submitAttempts: job.submitAttempts },
    },
    iso(nowMs),
  );
  if (!claimed) return { kind: 'skipped', job: await deps.store.get(job.id) };

  try {
    const imageUrls = await deps.inputs.resolve(claimed.input.image_urls);
    const { requestId } = await deps.runComfy.submit({ ...claimed.input, image_urls: imageUrls });
    const now = iso(deps.clock.now());
    const submitted = await deps.store.update(
      job.id,
      { set: { requestId, submittedAt: now }, remove: ['submittingSince'] },
      { absent: ['requestId'] },
      now,
    );
    deps.log.info('submitted upstream', { jobId: job.id, requestId, attempt: claimed.submitAttempts });
    deps.metrics.count('UpstreamSubmitted');
    // Only the write that recorded the request id announces it, so a retried handler does not.
    if (submitted) await announceBestEffort(deps, job.id, () => submittedEvent(submitted));
    return { kind: 'submitted', job: submitted ?? claimed };
  } catch (error) {
    if (!(error instanceof RunComfyError)) {
      // Our own failure (e.g. DynamoDB after a successful submit) must not free the job for a
      // second paid submission: the in-flight marker stays and the poll chain resolves it.
      throw error;
    }
    return handleSubmitError(deps, claimed, error);
  }
}

async function handleSubmitError(deps: JobDeps, job: Job, error: RunComfyError): Promise<SubmitOutcome> {
  const upstream = {
    kind: error.kind,
    code: error.code,
    http_status: error.httpStatus,
    upstream_code: error.upstreamCode,
    message: error.message,
  };
  deps.log.warn('upstream submit failed', { jobId: job.id, ...upstream });
  deps.metrics.count('UpstreamSubmitErrors');

  if (error.kind === 'transient' || error.kind === 'rate_limited') {
    const delaySeconds = retryDelaySeconds(job.submitAttempts, error.retryAfterMs);
    const nowMs = deps.clock.now();
    if (nowMs + delaySeconds * 1000 < Date.parse(job.deadlineAt)) {
      const freed = await deps.store.update(
        job.id,
        { set: { lastUpstreamError: upstream }, remove: ['submittingSince'] },
        { statusIn: ['queued'], absent: ['requestId'] },
        iso(nowMs),
      );
      return { kind: 'retry_later', delaySeconds, job: freed ?? job };
    }
    const finished = await finishJob(deps, job.id, {
      status: 'expired',
      error: {
        code: 'DEADLINE_EXCEEDED',
        message: 'RunComfy did not accept the job before its deadline',
        upstream,
      },
    });
    return { kind: 'finished', job: finished };
  }

  const lost = error.kind === 'outcome_unknown' || error.kind === 'bad_response';
  const finished = await finishJob(deps, job.id, {
    status: 'failed',
    error: lost
      ? {
          code: 'UPSTREAM_LOST',
          message:
            'RunComfy did not answer the submission; it was not resubmitted, since a duplicate would be charged twice',
          upstream,
        }
      : { code: 'UPSTREAM_REJECTED', message: `RunComfy refused the job: ${error.message}`, upstream },
  });
  return { kind: 'finished', job: finished };
}
