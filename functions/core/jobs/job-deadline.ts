import { DEFAULTS } from '#contract/config';
import { type JobDeps, writeContext } from './deps.ts';
import { finishJob } from './finish-job.ts';
import { iso, type Job } from './job.ts';
import { expire, failSubmission, type Heartbeat, heartbeat, overtime } from './lifecycle.ts';

/**
 * What happens when a job's deadline passes before RunComfy finished. RunComfy cancels queued
 * requests only: a run already in progress cannot be stopped and will be billed. So the deadline
 * bounds the wait for RunComfy to *start*, and a run in progress at the deadline is still waited
 * for — its result collected — for `RUN_OVERTIME_SECONDS` more. Only then, or when RunComfy
 * confirms the cancellation, or when nothing was ever submitted, does the job end `expired`.
 * Our own backlog never counts: once RunComfy reports the run finished, no deadline applies.
 */

/** When the job stops waiting for RunComfy: its deadline, or the end of its overtime. */
export const waitEndsAt = (job: Pick<Job, 'deadlineAt' | 'overtimeUntil'>): number =>
  Date.parse(job.overtimeUntil ?? job.deadlineAt);

/**
 * Whether the deadline asks for a decision now, given the upstream state a heartbeat saw
 * (`undefined`: it could not tell). In overtime only a run still queued is worth another cancel.
 */
export function deadlineDue(
  job: Pick<Job, 'deadlineAt' | 'overtimeUntil'>,
  nowMs: number,
  upstreamState?: 'queued' | 'running' | 'unknown',
): boolean {
  if (nowMs < Date.parse(job.deadlineAt)) return false;
  if (!job.overtimeUntil || nowMs >= Date.parse(job.overtimeUntil)) return true;
  return upstreamState === 'queued';
}

export type DeadlineOutcome = 'expired' | 'dropped' | { overtime: Job };

/**
 * The deadline passed: asks RunComfy to cancel, then ends the job `expired` — unless the run could
 * not be cancelled and the overtime allows waiting for it, in which case the job (with `beat`, its
 * heartbeat claimed) goes on being polled. Without `beat` (the sweeper) the overtime is recorded
 * and the sweeper looks again when it ends.
 */
export async function atDeadline(
  deps: JobDeps,
  job: Job,
  beat: Heartbeat | undefined,
  message?: string,
): Promise<DeadlineOutcome> {
  if (!job.requestId) return expireJob(deps, job, message);
  const upstream = await cancelUpstream(deps, job.requestId);
  const nowMs = deps.clock.now();
  const overtimeSeconds = deps.config.runOvertimeSeconds ?? DEFAULTS.runOvertimeSeconds;
  const overtimeOver = job.overtimeUntil !== undefined && nowMs >= Date.parse(job.overtimeUntil);
  if (upstream.cancel_outcome === 'cancelled' || overtimeOver || overtimeSeconds === 0) {
    return expireJob(deps, job, message, upstream);
  }
  if (job.overtimeUntil) {
    // Already in overtime (a queued run whose cancel did not go through): poll on.
    const claimed = beat ? await deps.store.write(job.id, heartbeat(beat)) : job;
    return claimed ? { overtime: claimed } : 'dropped';
  }
  const untilMs = Date.parse(job.deadlineAt) + overtimeSeconds * 1000;
  const why =
    upstream.cancel_outcome === 'not_cancellable'
      ? 'RunComfy is running the job, which it cannot cancel and will bill'
      : `RunComfy could not be asked to cancel the job (${upstream.cancel_error ?? 'unknown outcome'})`;
  const extended = await deps.store.write(
    job.id,
    overtime(
      untilMs,
      {
        code: 'RUN_OVERTIME',
        message: `the deadline (${job.deadlineAt}) passed and ${why}: its result is still collected until ${iso(untilMs)}`,
        attempt: job.pollCount + 1,
        at: iso(nowMs),
      },
      beat,
      writeContext(deps),
    ),
  );
  if (!extended) return 'dropped';
  deps.log.warn('deadline passed while RunComfy runs the job; waiting for its result', {
    jobId: job.id,
    overtimeUntil: extended.overtimeUntil,
  });
  return { overtime: extended };
}

/**
 * Ends the job `expired` with `DEADLINE_EXCEEDED`, recording what RunComfy said to the cancel
 * (asked here unless the caller already did).
 */
export async function expireJob(
  deps: JobDeps,
  job: Job,
  message = job.requestId
    ? `RunComfy did not finish the job before its deadline (${job.overtimeUntil ? `${job.deadlineAt}, waited until ${job.overtimeUntil}` : job.deadlineAt})`
    : `RunComfy did not accept the job before its deadline (${job.deadlineAt})${job.lastError ? `; last: ${job.lastError.message}` : ''}`,
  upstream?: CancelRecord,
): Promise<'expired' | 'dropped'> {
  const cancelled = upstream ?? (job.requestId ? await cancelUpstream(deps, job.requestId) : undefined);
  const expired = await finishJob(
    deps,
    job.id,
    expire(
      { code: 'DEADLINE_EXCEEDED', message, ...(cancelled ? { upstream: { ...cancelled } } : {}) },
      writeContext(deps),
    ),
  );
  return expired ? 'expired' : 'dropped';
}

interface CancelRecord {
  cancel_outcome?: string;
  cancel_error?: string;
}

async function cancelUpstream(deps: JobDeps, requestId: string): Promise<CancelRecord> {
  try {
    return { cancel_outcome: (await deps.runComfy.cancel(requestId)).outcome };
  } catch (error) {
    return { cancel_error: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * Ends a job whose submission started but never recorded its outcome (the function died between
 * the claim and RunComfy's answer). It is never repeated: a duplicate would be charged twice.
 */
export async function endLostSubmission(
  deps: JobDeps,
  jobId: string,
  submittingSince: string,
): Promise<boolean> {
  const lost = await finishJob(
    deps,
    jobId,
    failSubmission(
      {
        code: 'UPSTREAM_LOST',
        message:
          'the submission to RunComfy never completed; it was not repeated, since a duplicate would be charged twice',
      },
      submittingSince,
      writeContext(deps),
    ),
  );
  return Boolean(lost);
}
