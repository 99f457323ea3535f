import { describe, expect, it } from 'vitest';
import { collectResult, MAX_SILENT_ATTEMPTS } from '#core/jobs/collect-result';
import type { Job } from '#core/jobs/job';
import { OutputCopyError } from '#core/outputs/index';
import { EDIT_INPUT, World } from '../../support/race-harness.ts';

/*
 * The result stage's retry window bounds the waits its own schedule plans, not the clock: a
 * finished run was paid for, so a backlog in our queue (or a crashed attempt) must not use up
 * the window and throw the result away (the soak found exactly that).
 */

const INPUT = EDIT_INPUT;

const WINDOW_SECONDS = 60;

async function finishedJob(world: World, fields: Partial<Job> = {}): Promise<Job> {
  const { requestId } = await world.runComfy.submit(INPUT);
  world.runComfy.start(requestId);
  world.runComfy.finish(requestId, 'succeeded', 2);
  const now = new Date(world.clock.now()).toISOString();
  const job: Job = {
    id: 'job-1',
    owner: 'local',
    status: 'running',
    input: INPUT,
    createdAt: now,
    updatedAt: now,
    deadlineAt: now,
    sweepAt: now,
    requestId,
    submitAttempts: 1,
    pollCount: 3,
    upstreamFinishedAt: now,
    collectNextAt: now,
    ...fields,
  };
  await world.store.create(job);
  return job;
}

function notReady(world: World): void {
  world.outputs.failNext = () => {
    throw new OutputCopyError('download_failed', 'https://files.runcomfy.net/0.png', 'answered 404', {
      retryable: true,
      httpStatus: 404,
    });
  };
}

/** One collection attempt, `lateMs` after the retry it was scheduled for was due. */
async function attempt(world: World, lateMs = 0) {
  const deps = world.deps();
  deps.config = { ...deps.config, resultRetryWindowSeconds: WINDOW_SECONDS };
  const job = (await world.store.get('job-1')) as Job;
  if (job.collectNextAt) world.clock.ms = Math.max(world.clock.ms, Date.parse(job.collectNextAt) + lateMs);
  return collectResult(deps, { jobId: 'job-1', attempt: job.collectAttempts ?? 0 });
}

/** Attempts that all fail (not ready yet) until one ends the job; `afterRetry` runs after each deferred one. */
async function failEveryAttempt(world: World, afterRetry?: () => Promise<void>): Promise<string[]> {
  const outcomes: string[] = [];
  for (let n = 0; n < 10; n++) {
    notReady(world);
    const outcome = await attempt(world);
    outcomes.push(outcome);
    if (outcome !== 'retry_later') break;
    await afterRetry?.();
  }
  return outcomes;
}

describe('the result stage’s retry window', () => {
  it('does not count time a retry waited in our own queue', async () => {
    const world = new World();
    await finishedJob(world);

    // Three attempts fail (not ready yet); the fourth waits ten minutes in a backlog and fails too.
    for (let n = 0; n < 3; n++) {
      notReady(world);
      expect(await attempt(world)).toBe('retry_later');
    }
    notReady(world);
    expect(await attempt(world, 600_000)).toBe('retry_later');

    // The schedule's waits (2 + 4 + 8 + 16 s) are inside the window: the file arrives, the job succeeds.
    expect(await attempt(world)).toBe('finished');
    const job = (await world.store.get('job-1')) as Job;
    expect(job.status).toBe('succeeded');
    expect(job.collectRetryWaitMs).toBe(30_000);
  });

  it('gives up once the schedule’s own waits pass the window, with every attempt it made', async () => {
    const world = new World();
    await finishedJob(world);

    const outcomes = await failEveryAttempt(world);

    // Waits of 2 + 4 + 8 + 16 = 30 s fit; the fifth failure's 32 s would pass 60 s.
    expect(outcomes).toEqual(['retry_later', 'retry_later', 'retry_later', 'retry_later', 'finished']);
    const job = (await world.store.get('job-1')) as Job;
    expect(job.status).toBe('failed');
    expect(job.error?.code).toBe('OUTPUT_COPY_FAILED');
    expect(job.error?.attempts).toHaveLength(5);
  });

  it('counts silent attempts since the last recorded one, not against the capped history', async () => {
    const world = new World();
    // Fifteen attempts recorded (the history keeps the last ten), the last one a moment ago.
    const history = Array.from({ length: 10 }, (_, index) => ({
      attempt: index + 6,
      at: new Date(world.clock.now()).toISOString(),
      reason: 'download_failed',
      message: 'answered 404',
      httpStatus: 404,
    }));
    await finishedJob(world, { collectAttempts: 15, collectHistory: history, collectRetryWaitMs: 1_000 });

    expect(await attempt(world)).toBe('finished');
    expect(((await world.store.get('job-1')) as Job).status).toBe('succeeded');

    // Silent attempts in a row (crashed before recording anything) still end it.
    const stuck = new World();
    await finishedJob(stuck, {
      collectAttempts: 15 + MAX_SILENT_ATTEMPTS,
      collectHistory: history,
      collectRetryWaitMs: 1_000,
    });
    expect(await attempt(stuck)).toBe('finished');
    const ended = (await stuck.store.get('job-1')) as Job;
    expect(ended.error?.code).toBe('RESULT_HANDOVER_FAILED');
  });
});

describe('the result stage under a duplicate delivery', () => {
  it('starts no attempt for a copy that comes back before the next attempt is due (it would spend the window without its wait)', async () => {
    const world = new World();
    await finishedJob(world);
    const deps = world.deps();
    deps.config = { ...deps.config, resultRetryWindowSeconds: WINDOW_SECONDS };

    // Every attempt fails, and each is followed at once by copies of its message (a redelivery after a
    // crash, a delete that did not happen): the copies wait for the next attempt instead of making one.
    const outcomes = await failEveryAttempt(world, async () => {
      const deferred = (await world.store.get('job-1')) as Job;
      while (world.queues.take('result')) {} // the attempt's own retry
      for (let copy = 0; copy < 3; copy++) {
        expect(await collectResult(deps, { jobId: 'job-1', attempt: 0 })).toBe('retry_later');
        const looked = world.queues.take('result');
        expect(looked?.delaySeconds).toBeGreaterThanOrEqual(
          Math.ceil((Date.parse(deferred.collectNextAt!) - world.clock.now()) / 1000),
        );
      }
      const after = (await world.store.get('job-1')) as Job;
      expect(after.collectAttempts).toBe(deferred.collectAttempts);
      expect(after.collectRetryWaitMs).toBe(deferred.collectRetryWaitMs);
    });

    // The same five attempts as without the copies: the schedule's waits decide, not the deliveries.
    expect(outcomes).toEqual(['retry_later', 'retry_later', 'retry_later', 'retry_later', 'finished']);
    expect(((await world.store.get('job-1')) as Job).error?.attempts).toHaveLength(5);
  });

  it('looks again at the next attempt when the collector that won the lease deferred it and died before queueing its retry', async () => {
    const world = new World();
    await finishedJob(world);
    notReady(world);
    const deps = world.deps();
    // Two deliveries of one message: copy B reads the job, then copy A takes the lease, finds the
    // output not ready, defers the collection and dies before queueing its retry.
    let raced = false;
    const write = world.store.write.bind(world.store);
    const store = new Proxy(world.store, {
      get(target, property) {
        if (property === 'write')
          return async (id: string, change: Parameters<typeof write>[1]) => {
            if (!raced && change.transition === 'startCollection') {
              raced = true;
              const dying = Object.assign(Object.create(deps.queues), {
                scheduleResult: async () => Promise.reject(new Error('copy A died here')),
              });
              await expect(
                collectResult({ ...deps, queues: dying }, { jobId: 'job-1', attempt: 0 }),
              ).rejects.toThrow('copy A died here');
            }
            return write(id, change);
          };
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });

    // Copy B was refused the lease; the message it deletes is the only one left.
    expect(await collectResult({ ...deps, store }, { jobId: 'job-1', attempt: 0 })).toBe('retry_later');
    const deferred = (await world.store.get('job-1')) as Job;
    expect(deferred.collectAttempts).toBe(1);
    const again = world.queues.take('result');
    expect(again?.delaySeconds).toBeGreaterThanOrEqual(
      Math.ceil((Date.parse(deferred.collectNextAt!) - world.clock.now()) / 1000),
    );

    world.clock.ms = Date.parse(deferred.collectNextAt!);
    expect(await collectResult(deps, again!.body as { jobId: string; attempt: number })).toBe('finished');
    expect(((await world.store.get('job-1')) as Job).status).toBe('succeeded');
  });
});
