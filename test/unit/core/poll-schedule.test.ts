import { describe, expect, it } from 'vitest';
import {
  FIRST_POLL_DELAY_SECONDS,
  firstPollDelaySeconds,
  nextPollDelaySeconds,
  plannedPollSeconds,
  retryDelaySeconds,
} from '#core/jobs/poll-schedule';

const base = { secondsToDeadline: 900, maxDelaySeconds: 30 };

describe('Function: plannedPollSeconds', () => {
  it('plans looks at 3 s, then every 2 s to 120 s, 3 s to 300 s, 5 s to 600 s and 10 s after', () => {
    const looks: number[] = [];
    for (let t = plannedPollSeconds(0); t < 700; t = plannedPollSeconds(t + 0.001)) looks.push(t);
    expect(looks.slice(0, 4)).toEqual([3, 5, 7, 9]);
    expect(looks.filter((t) => t >= 117 && t <= 130)).toEqual([117, 119, 121, 124, 127, 130]);
    expect(looks.filter((t) => t >= 295 && t <= 311)).toEqual([295, 298, 301, 306, 311]);
    expect(looks.filter((t) => t >= 591 && t <= 621)).toEqual([591, 596, 601, 611, 621]);
    // Each interval is the one of the phase its look is in.
    for (let i = 1; i < looks.length; i++) {
      const previous = looks[i - 1]!;
      const every = previous < 120 ? 2 : previous < 300 ? 3 : previous < 600 ? 5 : 10;
      expect(looks[i]! - previous).toBe(every);
    }
  });

  it('answers the first planned look at or after a time, fractions included', () => {
    expect(plannedPollSeconds(-5)).toBe(3);
    expect(plannedPollSeconds(3)).toBe(3);
    expect(plannedPollSeconds(3.01)).toBe(5);
    expect(plannedPollSeconds(119.5)).toBe(121);
    expect(plannedPollSeconds(121.2)).toBe(124);
    expect(plannedPollSeconds(3_600)).toBe(3_601);
    expect(plannedPollSeconds(3_601.5)).toBe(3_611);
  });
});

describe('Function: nextPollDelaySeconds', () => {
  it('polls densely where flash edits end, queue wait included, and backs off in the tail', () => {
    expect(FIRST_POLL_DELAY_SECONDS).toBe(3);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 3 })).toBe(2);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 89 })).toBe(2);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 119 })).toBe(2);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 121 })).toBe(3);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 401 })).toBe(5);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 701 })).toBe(10);
  });

  it('aims at the planned times, so the work of each look does not add up', () => {
    // Each look takes `workSeconds` (its own calls, the queue hop) after the delay it was given.
    for (const workSeconds of [0, 0.12, 0.3, 0.45, 0.7, 0.95]) {
      let now = 3 + workSeconds;
      let aimedAt = 3;
      while (now < 400) {
        const next = plannedPollSeconds(now + 0.5);
        // The next planned look, none skipped: the one after the look this heartbeat was aimed at.
        expect(next).toBe(plannedPollSeconds(aimedAt + 0.001));
        now += nextPollDelaySeconds({ ...base, elapsedSeconds: now }) + workSeconds;
        aimedAt = next;
        // Within half a second of it (whole-second delays) plus one look's work: no lateness carried over.
        expect(now - aimedAt - workSeconds).toBeGreaterThan(-0.5 - 1e-9);
        expect(now - aimedAt - workSeconds).toBeLessThanOrEqual(0.5 + 1e-9);
      }
    }
  });

  it('rounds to whole seconds: within half a second of the plan, early as well as late', () => {
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 3.2 })).toBe(2); // to 5: lands at 5.2
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 3.6 })).toBe(1); // to 5: lands at 4.6
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 3.9 })).toBe(1); // to 5: lands at 4.9
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 121.4 })).toBe(3); // to 124: lands at 124.4
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 0 })).toBe(3);
  });

  it('skips no planned look: a late heartbeat still makes the next one', () => {
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 4.6 })).toBe(2); // aimed at 5, early: to 7
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 5.9 })).toBe(1); // aimed at 5, late: to 7
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 6.4 })).toBe(1); // aimed at 5, very late: to 7
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 4.4 })).toBe(1); // early for 5 by more than rounding
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 125.4 })).toBe(2); // aimed at 124: to 127
  });

  it('waits longer while far back in the upstream queue, up to 10 s, and stays on the plan', () => {
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 3, queuePosition: 0 })).toBe(2);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 3, queuePosition: 1 })).toBe(2);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 3, queuePosition: 6 })).toBe(6);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 3, queuePosition: 5 })).toBe(6); // at 9, not 8
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 3, queuePosition: 50 })).toBe(10);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 121, queuePosition: 4 })).toBe(6); // at 127
  });

  it('never schedules past the deadline or the configured maximum, and never below 1 s', () => {
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 701, secondsToDeadline: 4.2 })).toBe(5);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 701, secondsToDeadline: 2.5 })).toBe(3);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 701, maxDelaySeconds: 4 })).toBe(4);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 701, secondsToDeadline: -3 })).toBe(1);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 5_001, maxDelaySeconds: 3_600 })).toBe(10);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: -2_000, maxDelaySeconds: 3_600 })).toBe(900);
  });
});

describe('Function: firstPollDelaySeconds', () => {
  it('aims at 3 s after the submission, less the time spent since it was recorded', () => {
    expect(firstPollDelaySeconds(0)).toBe(3);
    expect(firstPollDelaySeconds(0.3)).toBe(3);
    expect(firstPollDelaySeconds(0.7)).toBe(2);
    expect(firstPollDelaySeconds(2.2)).toBe(1);
    expect(firstPollDelaySeconds(2.7)).toBe(2); // the look at 3 is past: the one at 5
  });
});

describe('Function: retryDelaySeconds', () => {
  it('doubles per attempt up to a minute and honours a longer Retry-After', () => {
    expect([1, 2, 3, 4, 7, 20].map((attempt) => retryDelaySeconds(attempt))).toEqual([1, 2, 4, 8, 60, 60]);
    expect(retryDelaySeconds(1, 12_500)).toBe(13);
    expect(retryDelaySeconds(5, 1_000)).toBe(16);
    expect(retryDelaySeconds(1, 5_000_000)).toBe(900);
  });
});
