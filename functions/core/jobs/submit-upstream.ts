import { submittedEvent } from '../notify/event-builders.ts';
import { announceBestEffort } from '../notify/notifier.ts';
import { RunComfyError } from '../runcomfy/errors.ts';
import { type AdmissionDeps, placeInLine, slowDown, speedUp } from './admission.ts';
import { type JobDeps, writeContext } from './deps.ts';
import { finishJob } from './finish-job.ts';
import { iso, isTerminal, type Job, type JobError, type LastError } from './job.ts';
import {
  claimSubmission,
  deferSubmission,
  expire,
  failSubmission,
  type Heartbeat,
  recordSubmission,
  requeue,
} from './lifecycle.ts';
import { FIRST_POLL_DELAY_SECONDS, firstPollDelaySeconds, retryDelaySeconds } from './poll-schedule.ts';

/** How long a submission may be in flight before a job that never heard back counts as lost. */
export const SUBMIT_IN_FLIGHT_MS = 60_000;

/** Attempts at writing a request id RunComfy gave before it is handed to the next heartbeat. */
const RECORD_ATTEMPTS = 3;

export type SubmitOutcome =
  | { kind: 'submitted'; job: Job }
  | { kind: 'retry_later'; delaySeconds: number; job: Job }
  | { kind: 'finished' }
  | { kind: 'requeued' }
  | { kind: 'dropped' };

/**
 * One submission attempt, by the job's poll chain (heartbeat `beat`). RunComfy has no idempotency
 * key, so a blind retry can pay twice: the attempt is claimed with a conditional write first, and
 * a submission whose outcome is unknown is never repeated.
 *
 * - accepted: records the request id (retried; if the table will not take it, the next heartbeat
 *   carries it), announces `Edit Job Submitted` and schedules the first status check;
 * - refused for now (429, 5xx, connection refused: nothing was created): records the trouble and
 *   retries with backoff until the deadline, then expires the job;
 * - refused for good (input, auth, billing, model): fails the job `UPSTREAM_REJECTED`;
 * - no usable answer after the request was sent: fails the job `UPSTREAM_LOST`.
 */
export async function submitUpstream(deps: JobDeps, job: Job, beat: Heartbeat): Promise<SubmitOutcome> {
  // Presigned before the claim: a failure here is ours, and must not leave a submission "in flight".
  const imageUrls = await deps.inputs.resolve(job.input.image_urls);
  const claimed = await deps.store.write(job.id, claimSubmission(job, beat, writeContext(deps)));
  if (!claimed) return { kind: 'dropped' };
  const attempt = claimed.submitAttempts;
  const inFlightSince = claimed.submittingSince as string;

  let requestId: string;
  try {
    ({ requestId } = await deps.runComfy.submit({ ...claimed.input, image_urls: imageUrls }));
  } catch (error) {
    // Our own failure before or around the call keeps the in-flight marker: the chain resolves it.
    if (!(error instanceof RunComfyError)) throw error;
    return handleSubmitError(deps, claimed, error, attempt, inFlightSince);
  }
  deps.log.info('submitted upstream', { jobId: job.id, requestId, attempt });
  deps.metrics.count('UpstreamSubmitted');
  if (deps.admission) await speedUp(deps as AdmissionDeps).catch(() => undefined);

  const recorded = await recordRequestId(deps, claimed, requestId);
  if (!recorded) return { kind: 'submitted', job: claimed };
  if (isTerminal(recorded.status)) {
    await reconcileEndedJob(deps, recorded, requestId);
    return { kind: 'finished' };
  }
  await announceBestEffort(deps, job.id, () => submittedEvent(recorded));
  // The first look is planned 3 s after the submission was recorded, whatever announcing it took.
  const nowMs = deps.clock.now();
  const sinceSubmitted = recorded.submittedAt ? (nowMs - Date.parse(recorded.submittedAt)) / 1000 : 0;
  await deps.queues.schedulePoll(
    { jobId: job.id, seq: recorded.pollCount },
    firstPollDelaySeconds(sinceSubmitted),
  );
  return { kind: 'submitted', job: recorded };
}

/**
 * Writes the request id, retrying: an id RunComfy gave is a paid job that must not be lost. If
 * the table still refuses, the id rides on the next heartbeat instead (`PollMessage.requestId`),
 * which records it. Returns the job as written, or `undefined` when the heartbeat carries it.
 */
async function recordRequestId(deps: JobDeps, job: Job, requestId: string): Promise<Job | undefined> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= RECORD_ATTEMPTS; attempt++) {
    try {
      const recorded = await deps.store.write(job.id, recordSubmission(requestId, writeContext(deps)));
      if (recorded) return recorded;
      // Refused: an id is recorded already (this very one, by a redelivered attempt's write).
      const current = await deps.store.get(job.id);
      if (current?.requestId === requestId) return current;
      throw new Error(`job ${job.id} already has request id ${current?.requestId}, not ${requestId}`);
    } catch (error) {
      lastError = error;
      if (attempt < RECORD_ATTEMPTS) await deps.clock.sleep(100 * 4 ** (attempt - 1));
    }
  }
  deps.log.error('could not record the request id; the next heartbeat carries it', {
    jobId: job.id,
    requestId,
    error: lastError,
  });
  await deps.queues.schedulePoll({ jobId: job.id, seq: job.pollCount, requestId }, FIRST_POLL_DELAY_SECONDS);
  return undefined;
}

/**
 * RunComfy accepted a job that has ended meanwhile (it was declared lost while this submission
 * hung): cancel it upstream so that it is not run and paid for; the ended job stays as it is.
 */
export async function reconcileEndedJob(deps: JobDeps, job: Job, requestId: string): Promise<void> {
  let outcome = 'unknown';
  try {
    outcome = (await deps.runComfy.cancel(requestId)).outcome;
  } catch (error) {
    outcome = error instanceof Error ? error.message : String(error);
  }
  deps.log.warn('RunComfy accepted a job that had already ended; cancelled upstream', {
    jobId: job.id,
    requestId,
    status: job.status,
    cancelOutcome: outcome,
  });
}

async function handleSubmitError(
  deps: JobDeps,
  job: Job,
  error: RunComfyError,
  attempt: number,
  inFlightSince: string,
): Promise<SubmitOutcome> {
  const upstream = upstreamDetails(error);
  deps.log.warn('upstream submit failed', { jobId: job.id, attempt, upstream });
  deps.metrics.count('UpstreamSubmitErrors');
  const ctx = writeContext(deps);

  if (error.kind === 'rate_limited' && deps.admission && job.admittedAt) {
    // Too many in flight for RunComfy: fewer slots for a while, and this job waits again at its
    // old place in line (nothing was created upstream, so nothing is lost or paid).
    const trouble: LastError = { code: error.code, message: error.message, attempt, at: iso(ctx.nowMs) };
    const place = await placeInLine(deps as AdmissionDeps, job);
    const waiting = await deps.store.write(job.id, requeue(job, trouble, inFlightSince, place));
    if (!waiting) return { kind: 'dropped' };
    await slowDown(deps as AdmissionDeps);
    await deps.admission.release(job.id);
    return { kind: 'requeued' };
  }

  if (error.kind === 'transient' || error.kind === 'rate_limited') {
    const delaySeconds = retryDelaySeconds(attempt, error.retryAfterMs);
    const nextTryMs = ctx.nowMs + delaySeconds * 1000;
    const trouble: LastError = {
      code: error.code,
      message: error.message,
      attempt,
      at: iso(ctx.nowMs),
      nextTryAt: iso(nextTryMs),
    };
    const freed = await deps.store.write(job.id, deferSubmission(trouble));
    if (!freed) return { kind: 'dropped' };
    if (nextTryMs < Date.parse(job.deadlineAt)) return { kind: 'retry_later', delaySeconds, job: freed };
    await finishJob(
      deps,
      job.id,
      expire(
        {
          code: 'DEADLINE_EXCEEDED',
          message: `RunComfy did not accept the job before its deadline (last: ${error.message})`,
          upstream,
        },
        ctx,
      ),
    );
    return { kind: 'finished' };
  }

  // `outcome_unknown`: the request left and no usable answer came back; `bad_response`: an answer
  // we cannot read. Either way RunComfy may have created (and may charge) the job: never repeated.
  const lost = error.kind === 'outcome_unknown' || error.kind === 'bad_response';
  const jobError: JobError = lost
    ? {
        code: 'UPSTREAM_LOST',
        message:
          'RunComfy’s answer to the submission was lost; it was not resubmitted, since a duplicate would be charged twice',
        upstream,
      }
    : { code: 'UPSTREAM_REJECTED', message: `RunComfy refused the job: ${error.message}`, upstream };
  await finishJob(deps, job.id, failSubmission(jobError, inFlightSince, ctx));
  return { kind: 'finished' };
}

/** What RunComfy said, as a job's error and logs record it (never the token: the client scrubbed it). */
export function upstreamDetails(error: RunComfyError) {
  return {
    kind: error.kind,
    code: error.code,
    http_status: error.httpStatus,
    upstream_code: error.upstreamCode,
    message: error.message,
  };
}
