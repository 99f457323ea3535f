import { startedEvent } from '../notify/events.ts';
import { announceBestEffort } from '../notify/notifier.ts';
import { RunComfyError } from '../runcomfy/index.ts';
import type { JobDeps } from './deps.ts';
import { expireJob } from './expire-job.ts';
import { ensureNotified, finishJob } from './finish-job.ts';
import { iso, isTerminal, type Job } from './job.ts';
import type { PollMessage } from './messages.ts';
import { nextPollDelaySeconds, retryDelaySeconds } from './poll-schedule.ts';
import { SUBMIT_IN_FLIGHT_MS, submitUpstream } from './submit-upstream.ts';

export type PollOutcome =
  | 'dropped'
  | 'rescheduled'
  | 'handed_to_result'
  | 'expired'
  | 'finished'
  | 'notified';

/**
 * One heartbeat of a job's poll chain. Checks RunComfy and either schedules the next heartbeat
 * (per the poll schedule), hands the job to the result handler, or ends it at its deadline.
 *
 * Each heartbeat claims the next sequence number with a conditional write before it sends the
 * next message, so a duplicate delivery or a stale copy of a message is dropped instead of
 * forking the chain; a redelivery of the very message that claimed (its send failed) passes.
 * That exception lets two copies of one message both send a next heartbeat if they run at the
 * same moment; the two then carry the same sequence number, one claims it and the other is
 * dropped, so the chain is single again one step later.
 */
export async function pollJob(deps: JobDeps, message: PollMessage, messageId: string): Promise<PollOutcome> {
  const job = await deps.store.get(message.jobId);
  if (!job) {
    deps.log.warn('poll message for an unknown job; dropped', { jobId: message.jobId });
    return 'dropped';
  }
  if (isTerminal(job.status)) {
    if (job.notifiedAt) return 'dropped';
    await ensureNotified(deps, job);
    return 'notified';
  }
  const ownsNextSeq = job.pollCount === message.seq + 1 && job.lastPollMessageId === messageId;
  if (job.pollCount !== message.seq && !ownsNextSeq) {
    deps.log.info('stale or duplicate poll message; dropped', {
      jobId: job.id,
      seq: message.seq,
      current: job.pollCount,
    });
    return 'dropped';
  }

  const nowMs = deps.clock.now();
  const pastDeadline = nowMs >= Date.parse(job.deadlineAt);
  if (!job.requestId)
    return pastDeadline ? expireJob(deps, job) : pollUnsubmitted(deps, job, message, messageId);

  try {
    const status = await deps.runComfy.status(job.requestId);
    if (status.state === 'finished') {
      // Even at the deadline: a run that has ended was paid for, and its result is collected.
      const claimed = await claim(deps, job, message, messageId, {});
      if (!claimed) return 'dropped';
      await deps.queues.scheduleResult({ jobId: job.id, attempt: 0 });
      return 'handed_to_result';
    }
    if (pastDeadline) return expireJob(deps, job);
    const set: Partial<Job> =
      status.state === 'queued'
        ? { queuePosition: status.queuePosition }
        : status.state === 'running'
          ? { status: 'running', startedAt: job.startedAt ?? iso(nowMs) }
          : { lastUpstreamError: { kind: 'unknown_status', status: status.rawStatus } };
    if (status.state === 'unknown') {
      deps.log.warn('unknown upstream status; polling on', { jobId: job.id, rawStatus: status.rawStatus });
      deps.metrics.count('UpstreamUnknownShape');
    }
    const claimed = await claim(
      deps,
      job,
      message,
      messageId,
      set,
      status.state === 'running' ? ['queuePosition'] : [],
    );
    if (!claimed) return 'dropped';
    // Claims are conditional on the heartbeat's sequence number, so of the heartbeats that see
    // RunComfy running, only the first found no `startedAt`: it alone announces the start.
    if (status.state === 'running' && !job.startedAt) {
      await announceBestEffort(deps, job.id, () => startedEvent(claimed));
    }
    return reschedule(deps, claimed, status.state === 'queued' ? status.queuePosition : undefined);
  } catch (error) {
    if (!(error instanceof RunComfyError)) throw error;
    if (pastDeadline) return expireJob(deps, job);
    return handlePollError(deps, job, message, messageId, error);
  }
}

async function pollUnsubmitted(
  deps: JobDeps,
  job: Job,
  message: PollMessage,
  messageId: string,
): Promise<PollOutcome> {
  if (job.submittingSince) {
    if (deps.clock.now() - Date.parse(job.submittingSince) < SUBMIT_IN_FLIGHT_MS) {
      const claimed = await claim(deps, job, message, messageId, {});
      return claimed ? reschedule(deps, claimed) : 'dropped';
    }
    await finishJob(deps, job.id, {
      status: 'failed',
      error: {
        code: 'UPSTREAM_LOST',
        message:
          'the submission to RunComfy never completed; it was not repeated, since a duplicate would be charged twice',
      },
    });
    return 'finished';
  }
  // An earlier attempt was refused for now: this heartbeat makes the next attempt.
  const claimed = await claim(deps, job, message, messageId, {});
  if (!claimed) return 'dropped';
  const outcome = await submitUpstream(deps, claimed);
  if (outcome.kind === 'finished') return 'finished';
  const delay = outcome.kind === 'retry_later' ? outcome.delaySeconds : undefined;
  return reschedule(deps, outcome.job ?? claimed, undefined, delay);
}

async function handlePollError(
  deps: JobDeps,
  job: Job,
  message: PollMessage,
  messageId: string,
  error: RunComfyError,
): Promise<PollOutcome> {
  const upstream = {
    kind: error.kind,
    code: error.code,
    http_status: error.httpStatus,
    message: error.message,
  };
  if (error.kind === 'not_found') {
    await finishJob(deps, job.id, {
      status: 'failed',
      error: {
        code: 'UPSTREAM_LOST',
        message: 'RunComfy no longer knows this request (unknown or expired)',
        upstream,
      },
    });
    return 'finished';
  }
  // Everything else is worth another look later: rate limits and outages pass, and a revoked
  // token can be replaced by an operator before the deadline.
  deps.log.warn('upstream status check failed; retrying later', { jobId: job.id, ...upstream });
  deps.metrics.count('UpstreamPollErrors');
  const claimed = await claim(deps, job, message, messageId, { lastUpstreamError: upstream });
  if (!claimed) return 'dropped';
  return reschedule(deps, claimed, undefined, retryDelaySeconds(2, error.retryAfterMs));
}

/** Claims the next sequence number of the chain together with what this heartbeat learnt. */
function claim(
  deps: JobDeps,
  job: Job,
  message: PollMessage,
  messageId: string,
  set: Partial<Job>,
  remove: (keyof Job)[] = [],
): Promise<Job | undefined> {
  const nowMs = deps.clock.now();
  return deps.store.update(
    job.id,
    { set: { ...set, pollCount: message.seq + 1, lastPollMessageId: messageId }, remove },
    {
      statusIn: ['queued', 'running'],
      expression: {
        text: '#seq = :seq OR (#seq = :next AND #msg = :msg)',
        names: { '#seq': 'pollCount', '#msg': 'lastPollMessageId' },
        values: { ':seq': message.seq, ':next': message.seq + 1, ':msg': messageId },
      },
    },
    iso(nowMs),
  );
}

async function reschedule(
  deps: JobDeps,
  job: Job,
  queuePosition?: number,
  minimumDelaySeconds = 0,
): Promise<PollOutcome> {
  const nowMs = deps.clock.now();
  const since = Date.parse(job.submittedAt ?? job.createdAt);
  const secondsToDeadline = (Date.parse(job.deadlineAt) - nowMs) / 1000;
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
