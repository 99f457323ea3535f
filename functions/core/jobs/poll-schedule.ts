/**
 * When to ask RunComfy again. FLUX.2 [flash] edits take p50 8.1 s / p95 36 s (fal's published
 * figures; RunComfy's own are unknown), so the schedule polls densely where jobs end and backs
 * off only for jobs stuck far in the tail. `npm run bench -- poll` runs this very function against
 * fixed intervals of 1–10 s; these numbers are the ones its figures chose (see BENCHMARKS.md).
 *
 * - first look at 3 s: a look at 2 s costs half a call more per job on average and finds only
 *   the ~6 % of jobs done by then, a second sooner; with it the schedule is no better than a
 *   fixed 2 s poller;
 * - every 2 s up to 120 s: `elapsedSeconds` counts from the submission, so it includes any time
 *   spent in RunComfy's queue, and after a wait in a burst the run itself still ends where runs
 *   end; 120 s covers a queue wait plus nearly every run (a run alone ends by then 99.8 % of the
 *   time). Backing off at 20 s instead made bursts wait ~2 s on average for their results;
 * - then every 3 s up to 300 s, 5 s up to 600 s, and 10 s for jobs stuck far in the tail;
 * - while queued at position p, at least p seconds (up to 10): each job ahead needs seconds to run;
 * - never past the deadline, so an expiry is noticed on time, and never over `maxDelaySeconds`
 *   (SQS allows at most 900 s of message delay). Delays are whole seconds, as SQS takes them.
 */
export const FIRST_POLL_DELAY_SECONDS = 3;

export interface PollScheduleInput {
  /** Seconds since the job was submitted upstream (queue wait included). */
  elapsedSeconds: number;
  /** RunComfy's queue position, when the job is still queued. */
  queuePosition?: number;
  /** Seconds left until the job's deadline. */
  secondsToDeadline: number;
  maxDelaySeconds: number;
}

export function nextPollDelaySeconds(input: PollScheduleInput): number {
  const { elapsedSeconds, queuePosition, secondsToDeadline, maxDelaySeconds } = input;
  let delay = elapsedSeconds < 120 ? 2 : elapsedSeconds < 300 ? 3 : elapsedSeconds < 600 ? 5 : 10;
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
