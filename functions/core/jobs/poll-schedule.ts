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
 *
 * The looks are planned at fixed times counted from the submission (3, 5, 7 … s: {@link
 * plannedPollSeconds}), and each heartbeat aims at a planned time from where it is, so its own
 * work, the SQS hop and the delivery are taken out of the next delay instead of adding up look
 * after look (as they did when each delay was counted from the end of a look's work).
 */
export const FIRST_POLL_DELAY_SECONDS = 3;

/** The planned interval from one look at `t` seconds after the submission to the next. */
const PHASES: readonly { until: number; everySeconds: number }[] = [
  { until: 120, everySeconds: 2 },
  { until: 300, everySeconds: 3 },
  { until: 600, everySeconds: 5 },
  { until: Number.POSITIVE_INFINITY, everySeconds: 10 },
];

/**
 * The first planned look at or after `afterSeconds` (seconds since the submission): the planned
 * looks are 3 s, then each one plus the interval of its phase (2 s before 120 s, 3 s before 300 s,
 * 5 s before 600 s, then 10 s), so 3, 5 … 119, 121, 124 … 298, 301, 306 … 596, 601, 611 …
 */
export function plannedPollSeconds(afterSeconds: number): number {
  let start = FIRST_POLL_DELAY_SECONDS;
  for (const { until, everySeconds } of PHASES) {
    if (start >= until) continue;
    // Looks at start, start + every … while below `until`; the first one at or past it opens the next phase.
    const looks = Math.ceil((until - start) / everySeconds);
    const index = Math.max(0, Math.ceil((afterSeconds - start) / everySeconds));
    if (index < looks) return start + index * everySeconds;
    start += looks * everySeconds;
  }
  return start;
}

/**
 * The next look is the next planned one at least this far ahead: any closer, and a whole-second
 * delay would round to 0 s. A late heartbeat thus still makes the next planned look (however late
 * it came: a look skipped would cost its job a whole interval), and an early one (up to half a second,
 * from rounding) is taken for the look it was aimed at.
 */
const SOONEST_SECONDS = 0.5;

export interface PollScheduleInput {
  /** Seconds since the job was submitted upstream (queue wait included), now (after this look's work). */
  elapsedSeconds: number;
  /** RunComfy's queue position, when the job is still queued. */
  queuePosition?: number;
  /** Seconds left until the job's deadline. */
  secondsToDeadline: number;
  maxDelaySeconds: number;
}

/**
 * Seconds until the next look: to the next planned look at least half a second ahead, or, while
 * queued at position p, at least p seconds (up to 10) ahead, so that looks stay on the plan. The
 * delay is rounded to the nearest whole second (SQS delays are whole seconds): a heartbeat lands
 * within half a second of its planned time plus its own lateness (the work after the delay was
 * set, the SQS hop), early as often as late, and nothing carries over to the next look. With no
 * work and no queue hop (the poll bench's simulation, which calls this very function) every look
 * lands on its planned time exactly.
 */
export function nextPollDelaySeconds(input: PollScheduleInput): number {
  const { elapsedSeconds, queuePosition, secondsToDeadline, maxDelaySeconds } = input;
  const queueWait = queuePosition === undefined ? 0 : Math.min(Math.max(queuePosition, 0), 10);
  const target = plannedPollSeconds(elapsedSeconds + Math.max(SOONEST_SECONDS, queueWait));
  let delay = Math.round(target - elapsedSeconds);
  delay = Math.min(delay, maxDelaySeconds, 900, Math.ceil(Math.max(secondsToDeadline, 0)));
  return Math.max(1, Math.round(delay));
}

/**
 * Seconds from now until the first look (planned at 3 s), `elapsedSeconds` after the submission
 * was recorded: the work done since (announcing the submission) is taken out, as for every later
 * look.
 */
export function firstPollDelaySeconds(elapsedSeconds: number): number {
  return Math.max(1, Math.round(plannedPollSeconds(elapsedSeconds + SOONEST_SECONDS) - elapsedSeconds));
}

/** Backoff for retrying work that RunComfy or AWS refused for now (1, 2, 4 … 60 s). */
export function retryDelaySeconds(attempt: number, retryAfterMs?: number): number {
  const backoff = Math.min(60, 2 ** Math.max(0, attempt - 1));
  const asked = retryAfterMs === undefined ? 0 : Math.ceil(retryAfterMs / 1000);
  return Math.min(900, Math.max(backoff, asked));
}
