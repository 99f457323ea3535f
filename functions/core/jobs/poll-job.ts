import { startedEvent } from '../notify/event-builders.ts';
import { announceBestEffort } from '../notify/notifier.ts';
import { RunComfyError } from '../runcomfy/errors.ts';
import { releaseSlot } from './admission.ts';
import { carryOutCancelRequest } from './cancel-job.ts';
import { type JobDeps, writeContext } from './deps.ts';
import { ensureNotified, finishJob } from './finish-job.ts';
import { iso, isTerminal, type Job } from './job.ts';
import {
  atDeadline,
  type DeadlineOutcome,
  deadlineDue,
  endLostSubmission,
  expireJob,
  waitEndsAt,
} from './job-deadline.ts';
import {
  type Heartbeat,
  handOver,
  heartbeat,
  keepsSweepTime,
  loseUpstream,
  markRunning,
  recordSubmission,
} from './lifecycle.ts';
import type { PollMessage } from './messages.ts';
import { nextPollDelaySeconds, retryDelaySeconds } from './poll-schedule.ts';
import {
  reconcileEndedJob,
  SUBMIT_IN_FLIGHT_MS,
  submitUpstream,
  upstreamDetails,
} from './submit-upstream.ts';

/** Heartbeats a job still in line waits for its admission, a second each, before it is dropped. */
const MAX_ADMISSION_WAITS = 10;

export type PollOutcome =
  | 'dropped'
  | 'rescheduled'
  | 'handed_to_result'
  | 'expired'
  | 'finished'
  | 'notified';

/**
 * One heartbeat of a job's poll chain: submits the job (first heartbeat, or after RunComfy refused
 * for now), or checks RunComfy and either schedules the next heartbeat (per the poll schedule),
 * hands the finished run to the result stage, or ends the job at its deadline.
 *
 * Each heartbeat claims its sequence number with a conditional write before it sends the next
 * message, so a duplicate delivery or a stale copy is dropped instead of forking the chain; a
 * redelivery of the very message that claimed (its send failed) passes. That exception lets two
 * copies of one message both send a next heartbeat if they run at the same moment; the two then
 * carry the same sequence number, one claims it and the other is dropped, so the chain is single
 * again one step later.
 */
export async function pollJob(deps: JobDeps, message: PollMessage, messageId: string): Promise<PollOutcome> {
  let job = await deps.store.get(message.jobId);
  if (!job) {
    // A job admitted on arrival sends its first heartbeat just before it is recorded: wait for it
    // a little (it never comes if its submission died or was an idempotent repeat).
    const waits = (message.waits ?? 0) + 1;
    if (message.seq === 0 && waits <= MAX_ADMISSION_WAITS) {
      await deps.queues.schedulePoll({ ...message, waits }, 1);
      return 'rescheduled';
    }
    deps.log.warn('poll message for an unknown job; dropped', { jobId: message.jobId });
    return 'dropped';
  }
  if (message.requestId && !job.requestId) {
    // A submission's request id the table would not take at the time: record it now.
    job = (await deps.store.write(job.id, recordSubmission(message.requestId, writeContext(deps)))) ?? job;
    if (isTerminal(job.status) && job.requestId === message.requestId) {
      await reconcileEndedJob(deps, job, message.requestId);
    }
  }
  if (isTerminal(job.status)) {
    return (await ensureNotified(deps, job)) === 'sent' ? 'notified' : 'dropped';
  }
  if (job.waitLane) {
    // The dispatcher sends the first heartbeat just before it records the admission: wait for it a
    // little; if it never comes (the dispatcher died), the job keeps its place and its slot is reclaimed.
    const waits = (message.waits ?? 0) + 1;
    if (waits > MAX_ADMISSION_WAITS) return 'dropped';
    await deps.queues.schedulePoll({ ...message, waits }, 1);
    return 'rescheduled';
  }
  const beat: Heartbeat = { seq: message.seq, messageId };
  const ownsNextSeq = job.pollCount === message.seq + 1 && job.lastPollMessageId === messageId;
  if (ownsNextSeq && job.upstreamFinishedAt && job.collectAttempts === undefined) {
    // This very heartbeat handed the run over and died before queueing its collection (or giving
    // its slot back): both again. A second result message is harmless (the collection lease).
    await deps.queues.scheduleResult({ jobId: job.id, attempt: 0 });
    await releaseSlot(deps, job);
    return 'handed_to_result';
  }
  if ((job.pollCount !== message.seq && !ownsNextSeq) || job.upstreamFinishedAt) {
    deps.log.info('stale or duplicate poll message; dropped', {
      jobId: job.id,
      seq: message.seq,
      current: job.pollCount,
    });
    return 'dropped';
  }

  if (!job.requestId) return pollUnsubmitted(deps, job, beat, deadlineDue(job, deps.clock.now()));

  try {
    const status = await deps.runComfy.status(job.requestId);
    if (status.state === 'finished') {
      // Even at the deadline: a run that has ended was paid for, and its result is collected.
      const ctx = writeContext(deps);
      // Keeping the sweep time is on condition it did not move since the read: else written anew.
      const lean = handOver(beat, ctx, job);
      const handed =
        (await deps.store.write(job.id, lean)) ??
        (keepsSweepTime(lean) ? await deps.store.write(job.id, handOver(beat, ctx)) : undefined);
      if (!handed) return 'dropped';
      await deps.queues.scheduleResult({ jobId: job.id, attempt: 0 });
      // RunComfy is done with it: its slot goes to the next in line.
      await releaseSlot(deps, handed);
      return 'handed_to_result';
    }
    if (job.cancelRequestedAt && status.state === 'queued' && (await carryOutCancelRequest(deps, job))) {
      return 'finished';
    }
    if (deadlineDue(job, deps.clock.now(), status.state))
      return afterDeadline(deps, await atDeadline(deps, job, beat));
    if (status.state === 'running') {
      const claimed = await deps.store.write(job.id, markRunning(beat, writeContext(deps)));
      if (!claimed) return 'dropped';
      // Only the first heartbeat that saw it running found no `startedAt`: it alone announces.
      if (!job.startedAt) await announceBestEffort(deps, job.id, () => startedEvent(claimed));
      return reschedule(deps, claimed);
    }
    if (status.state === 'unknown') {
      deps.log.warn('unknown upstream status; polling on', { jobId: job.id, rawStatus: status.rawStatus });
      deps.metrics.count('UpstreamUnknownShape');
    }
    const trouble =
      status.state === 'unknown'
        ? {
            code: 'UPSTREAM_UNKNOWN_STATUS',
            message: `RunComfy answered status "${status.rawStatus}"`,
            attempt: message.seq + 1,
            at: iso(deps.clock.now()),
          }
        : undefined;
    const claimed = await deps.store.write(
      job.id,
      heartbeat(beat, { queuePosition: status.queuePosition, ...(trouble ? { trouble } : {}) }),
    );
    if (!claimed) return 'dropped';
    return reschedule(deps, claimed, status.state === 'queued' ? status.queuePosition : undefined);
  } catch (error) {
    if (!(error instanceof RunComfyError)) throw error;
    if (error.kind === 'not_found') {
      const lost = await finishJob(
        deps,
        job.id,
        loseUpstream(
          {
            code: 'UPSTREAM_LOST',
            message: 'RunComfy no longer knows this request (unknown or expired)',
            upstream: upstreamDetails(error),
          },
          beat,
          writeContext(deps),
        ),
      );
      return lost ? 'finished' : 'dropped';
    }
    if (deadlineDue(job, deps.clock.now())) return afterDeadline(deps, await atDeadline(deps, job, beat));
    // Everything else is worth another look later: rate limits and outages pass, and a revoked
    // token can be replaced by an operator before the deadline.
    deps.log.warn('upstream status check failed; retrying later', {
      jobId: job.id,
      upstream: upstreamDetails(error),
    });
    deps.metrics.count('UpstreamPollErrors');
    const delay = retryDelaySeconds(2, error.retryAfterMs);
    const nowMs = deps.clock.now();
    const claimed = await deps.store.write(
      job.id,
      heartbeat(beat, {
        trouble: {
          code: error.code,
          message: error.message,
          attempt: message.seq + 1,
          at: iso(nowMs),
          nextTryAt: iso(nowMs + delay * 1000),
        },
      }),
    );
    if (!claimed) return 'dropped';
    return reschedule(deps, claimed, undefined, delay);
  }
}

/** A job without a request id: submit it, wait for the submission in flight, or end it. */
async function pollUnsubmitted(
  deps: JobDeps,
  job: Job,
  beat: Heartbeat,
  pastDeadline: boolean,
): Promise<PollOutcome> {
  if (job.submittingSince) {
    if (deps.clock.now() - Date.parse(job.submittingSince) < SUBMIT_IN_FLIGHT_MS) {
      // Its outcome decides first, even past the deadline: a request id it brings is reconciled.
      const claimed = await deps.store.write(job.id, heartbeat(beat));
      return claimed ? reschedule(deps, claimed) : 'dropped';
    }
    const lost = await endLostSubmission(deps, job.id, job.submittingSince);
    return lost ? 'finished' : 'dropped';
  }
  if (pastDeadline) return expireJob(deps, job);
  const outcome = await submitUpstream(deps, job, beat);
  switch (outcome.kind) {
    case 'retry_later':
      return reschedule(deps, outcome.job, undefined, outcome.delaySeconds);
    case 'submitted':
      return 'rescheduled';
    case 'requeued':
      return 'dropped';
    default:
      return outcome.kind;
  }
}

/** Polling goes on through the overtime; otherwise the job has ended (or someone else moved it). */
async function afterDeadline(deps: JobDeps, outcome: DeadlineOutcome): Promise<PollOutcome> {
  return typeof outcome === 'string' ? outcome : reschedule(deps, outcome.overtime);
}

async function reschedule(
  deps: JobDeps,
  job: Job,
  queuePosition?: number,
  minimumDelaySeconds = 0,
): Promise<PollOutcome> {
  const nowMs = deps.clock.now();
  const since = Date.parse(job.submittedAt ?? job.createdAt);
  const secondsToDeadline = (waitEndsAt(job) - nowMs) / 1000;
  const scheduled = nextPollDelaySeconds({
    elapsedSeconds: (nowMs - since) / 1000,
    queuePosition,
    secondsToDeadline,
    maxDelaySeconds: deps.config.maxPollDelaySeconds,
  });
  const delay = Math.max(scheduled, Math.min(minimumDelaySeconds, Math.ceil(Math.max(secondsToDeadline, 1))));
  await deps.queues.schedulePoll({ jobId: job.id, seq: job.pollCount }, delay);
  return 'rescheduled';
}
