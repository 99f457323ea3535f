import { describe, expect, it } from 'vitest';
import { FIRST_POLL_DELAY_SECONDS, nextPollDelaySeconds, retryDelaySeconds } from '#core/jobs/poll-schedule';

const base = { secondsToDeadline: 900, maxDelaySeconds: 30 };

describe('Function: nextPollDelaySeconds', () => {
  it('polls densely where flash edits end, queue wait included, and backs off in the tail', () => {
    expect(FIRST_POLL_DELAY_SECONDS).toBe(3);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 3 })).toBe(2);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 90 })).toBe(2);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 119 })).toBe(2);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 120 })).toBe(3);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 400 })).toBe(5);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 700 })).toBe(10);
  });

  it('waits longer while far back in the upstream queue, up to 10 s', () => {
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 3, queuePosition: 1 })).toBe(2);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 3, queuePosition: 6 })).toBe(6);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 3, queuePosition: 50 })).toBe(10);
  });

  it('never schedules past the deadline or the configured maximum, and never below 1 s', () => {
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 700, secondsToDeadline: 4.2 })).toBe(5);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 700, secondsToDeadline: 2.5 })).toBe(3);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 700, maxDelaySeconds: 4 })).toBe(4);
    expect(nextPollDelaySeconds({ ...base, elapsedSeconds: 700, secondsToDeadline: -3 })).toBe(1);
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
