/**
 * When to ask RunComfy again. FLUX.2 [flash] edits take p50 8.1 s / p95 36 s (fal's published
 * figures; RunComfy's own are unknown), so the schedule polls densely where most jobs end and
 * backs off in the tail. `npm run bench` runs this very function against fixed intervals.
 *
 * - first look at 2 s: few jobs end sooner, and an early answer tells queued from running;
 * - every 2 s up to 20 s (about 84 % of jobs end by then);
 * - every 3 s up to 60 s, then 5 s, then 10 s for jobs stuck far in the tail;
 * - while queued at position p, at least p seconds: each job ahead needs seconds to run;
 * - never past the deadline, so an expiry is noticed on time, and never over `maxDelaySeconds`
 *   (SQS allows at most 900 s of message delay).
 */
export const FIRST_POLL_DELAY_SECONDS = 2;

export interface PollScheduleInput {
  /** Seconds since the job was submitted upstream. */
  elapsedSeconds: number;
  /** RunComfy's queue position, when the job is still queued. */
  queuePosition?: number;
  /** Seconds left until the job's deadline. */
  secondsToDeadline: number;
  maxDelaySeconds: number;
}

export function nextPollDelaySeconds(input: PollScheduleInput): number {
  const { elapsedSeconds, queuePosition, secondsToDeadline, maxDelaySeconds } = input;
  let delay = elapsedSeconds < 20 ? 2 : elapsedSeconds < 60 ? 3 : elapsedSeconds < 180 ? 5 : 10;
  if (queuePosition !== undefined && queuePosition > delay) delay = Math.min(queuePosition, 10);
  delay = Math.min(delay, maxDelaySeconds, 900, Math.ceil(Math.max(secondsToDeadline, 0)));
  return Math.max(1, Math.round(delay));
}

/** Backoff for retrying work that RunComfy or AWS refused for now (1, 2, 4 … 60 s). */
export function retryDelaySeconds(attempt: number, retryAfterMs?: number): number {
  const backoff = Math.min(60, 2 ** Math.max(0, attempt - 1));
  const asked = retryAfterMs === undefined ? 0 : Math.ceil(retryAfterMs / 1000);
  return Math.min(900, Math.max(backoff, asked));
}
