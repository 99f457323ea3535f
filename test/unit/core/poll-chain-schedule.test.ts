import { describe, expect, it } from 'vitest';
import type { PollMessage } from '#core/jobs/messages';
import { pollJob } from '#core/jobs/poll-job';
import { plannedPollSeconds } from '#core/jobs/poll-schedule';
import { submitEdit } from '#core/jobs/submit-edit';
import { World } from '../../support/race-harness.ts';

const INPUT = { prompt: 'p', image_urls: ['https://inputs.example.com/a.png'] };

/**
 * A job's poll chain on an injected clock: every call to RunComfy takes `workMs`, and every
 * heartbeat reaches the poller `hopMs` after its delay (SQS and Lambda). Returns the times of the
 * status calls, in seconds since the submission was recorded, until the run ends at `runSeconds`.
 */
async function looks(options: { workMs: number; hopMs: number; runSeconds: number }) {
  const w = new World();
  const deps = w.deps((port, name) =>
    name === 'runComfy'
      ? new Proxy(port, {
          get(target, key, receiver) {
            const value = Reflect.get(target, key, receiver);
            if (typeof value !== 'function') return value;
            return async (...args: unknown[]) => {
              w.clock.ms += options.workMs;
              return value.apply(target, args);
            };
          },
        })
      : port,
  );
  const { job } = await submitEdit(deps, { input: INPUT, owner: 'local' });
  const statusCalls: number[] = [];
  let submittedAtMs: number | undefined;
  for (let beat = 0; beat < 100; beat++) {
    const next = w.queues.take('poll');
    if (!next) break;
    w.clock.ms += next.delaySeconds * 1000 + options.hopMs;
    const current = (await w.store.get(job.id))!;
    if (current.requestId) {
      submittedAtMs ??= Date.parse(current.submittedAt!);
      const calledAt = (w.clock.ms + options.workMs - submittedAtMs) / 1000;
      statusCalls.push(calledAt);
      const run = w.runComfy.runs.get(current.requestId)!;
      if (calledAt >= 1 && run.state === 'queued') w.runComfy.start(current.requestId);
      if (calledAt >= options.runSeconds) w.runComfy.finish(current.requestId);
    }
    await pollJob(deps, next.body as PollMessage, next.id);
  }
  return statusCalls;
}

describe('Poll chain: planned looks on an injected clock', () => {
  it('makes its status calls on the planned times when heartbeats take no time', async () => {
    const calls = await looks({ workMs: 0, hopMs: 0, runSeconds: 20 });
    expect(calls).toEqual([3, 5, 7, 9, 11, 13, 15, 17, 19, 21]);
  });

  it('keeps every look within half a second of its plan plus one look’s work, however slow each look', async () => {
    for (const [workMs, hopMs] of [
      [40, 30],
      [150, 100],
      [300, 250],
    ] as const) {
      const calls = await looks({ workMs, hopMs, runSeconds: 60 });
      // One look per planned time, none skipped or doubled, over the whole minute.
      const planned = calls.map((t) => plannedPollSeconds(t - 0.5 - (3 * workMs + hopMs) / 1000));
      expect(planned.slice(0, 3)).toEqual([3, 5, 7]);
      for (let i = 1; i < planned.length; i++) expect(planned[i]! - planned[i - 1]!).toBe(2);
      // The lateness stays bounded instead of adding up look after look.
      for (const [i, t] of calls.entries()) {
        expect(t - planned[i]!).toBeGreaterThan(-0.5);
        expect(t - planned[i]!).toBeLessThanOrEqual(0.5 + (3 * workMs + hopMs) / 1000);
      }
      expect(calls.at(-1)).toBeLessThan(62);
    }
  });
});
