import { describe, expect, it } from 'vitest';
import { type CollectDeps, collectResult } from '#core/jobs/collect-result';
import type { JobDeps } from '#core/jobs/deps';
import { type JobWrite, overtime, startCollection, UNSTARTED_COLLECTION_MS } from '#core/jobs/lifecycle';
import type { PollMessage, ResultMessage } from '#core/jobs/messages';
import { pollJob } from '#core/jobs/poll-job';
import { submitEdit } from '#core/jobs/submit-edit';
import { sweepDueJobs } from '#core/jobs/sweep-jobs';
import { World } from '../../support/race-harness.ts';

/**
 * The sweep index's key (`sweepAt`) is a lower bound: the hand-over and the collection lease keep
 * the deadline's sweep time when it is no later than theirs (no index entry deleted and put), on
 * condition that it did not move since their read; the sweeper then decides on the job's own
 * fields whether a collection is stalled.
 */
const INPUT = { prompt: 'p', image_urls: ['https://inputs.example.com/a.png'] };

/** A job submitted and polled until RunComfy finished it: the next heartbeat hands it over. */
async function finishedUpstream(w: World, deps: JobDeps) {
  const { job } = await submitEdit(deps, { input: INPUT, owner: 'local' });
  const first = w.queues.take('poll')!;
  await pollJob(deps, first.body as PollMessage, first.id);
  const submitted = (await w.store.get(job.id))!;
  w.runComfy.finish(submitted.requestId!);
  return submitted;
}

/** A run RunComfy finished ten minutes after admission, handed over by its heartbeat; its result message lost. */
async function handedOverLate(w: World, deps: JobDeps) {
  const job = await finishedUpstream(w, deps);
  w.clock.ms += 600_000;
  const beat = w.queues.take('poll')!;
  await pollJob(deps, beat.body as PollMessage, beat.id);
  w.queues.take('result');
  return job;
}

/** The collection the sweeper queued again runs, and ends the job. */
async function expectResentAndCollected(w: World, deps: CollectDeps, jobId: string) {
  const resent = w.queues.take('result')!;
  await collectResult(deps, resent.body as ResultMessage);
  expect((await w.store.get(jobId))!.status).toBe('succeeded');
}

/** Deps whose store runs `before` once, ahead of the first write of `transition`. */
function interceptFirst(w: World, transition: string, before: () => Promise<unknown>): JobDeps {
  const deps = w.deps();
  let done = false;
  const write = w.store.write.bind(w.store);
  const store = new Proxy(w.store, {
    get(target, property, receiver) {
      if (property !== 'write') {
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return async (id: string, change: JobWrite) => {
        if (!done && change.transition === transition) {
          done = true;
          await before();
        }
        return write(id, change);
      };
    },
  });
  return { ...deps, store };
}

describe('Sweep time: kept by the hand-over and the lease', () => {
  it('hands over and takes the lease without moving the deadline’s sweep time', async () => {
    const w = new World();
    const deps = w.deps();
    const job = await finishedUpstream(w, deps);
    const admittedSweep = job.sweepAt;
    const beat = w.queues.take('poll')!;
    expect(await pollJob(deps, beat.body as PollMessage, beat.id)).toBe('handed_to_result');
    expect((await w.store.get(job.id))!.sweepAt).toBe(admittedSweep);
    const result = w.queues.take('result')!;
    await collectResult(deps, result.body as ResultMessage);
    const done = (await w.store.get(job.id))!;
    expect(done.status).toBe('succeeded');
  });

  it('writes the collection’s sweep time after all when another write moved it meanwhile', async () => {
    const w = new World();
    const plain = w.deps();
    const job = await finishedUpstream(w, plain);
    // Past the deadline, the sweeper gives the run its overtime just before the hand-over's write.
    w.clock.ms = Date.parse(job.deadlineAt) + 1_000;
    const deps = interceptFirst(w, 'handOver', () =>
      w.store.write(
        job.id,
        overtime(
          w.clock.now() + 3_600_000,
          { code: 'RUN_OVERTIME', message: 'late', attempt: 1, at: '' },
          undefined,
          { nowMs: w.clock.now(), graceMs: 300_000 },
        ),
      ),
    );
    const beat = w.queues.take('poll')!;
    expect(await pollJob(deps, beat.body as PollMessage, beat.id)).toBe('handed_to_result');
    const handed = (await w.store.get(job.id))!;
    expect(handed.upstreamFinishedAt).toBeDefined();
    // Not the overtime's (an hour on): the collection's stall allowance and grace from now.
    expect(handed.sweepAt).toBe(new Date(w.clock.now() + 15 * 60_000 + 300_000).toISOString());
  });

  it('does not resend a collection a collector took up when the sweeper finds it early, only once it is stalled', async () => {
    const w = new World();
    const deps = w.deps();
    const job = await handedOverLate(w, deps);
    // A collector takes the lease and dies; the sweeper comes just after the (kept) deadline sweep time.
    const handed = (await w.store.get(job.id))!;
    const ctx = { nowMs: w.clock.now(), graceMs: 300_000 };
    const leaseUntil = w.clock.now() + 60_000;
    expect(
      await w.store.write(job.id, startCollection(handed, { token: 'dead', untilMs: leaseUntil }, ctx, true)),
    ).toBeDefined();
    w.clock.ms = Date.parse(job.sweepAt!) + 1;
    expect((await w.store.get(job.id))!.sweepAt).toBe(job.sweepAt);
    const early = await sweepDueJobs(deps, { limit: 10 });
    expect(early.collected).toBe(0);
    expect(w.queues.take('result')).toBeUndefined();
    // It leaves the head of the sweep index: due again when it would count as stalled.
    const stalledAt = leaseUntil + 20 * 60_000;
    expect((await w.store.get(job.id))!.sweepAt).toBe(new Date(stalledAt).toISOString());
    expect(await w.store.listDue(new Date(w.clock.now()).toISOString(), 10)).toEqual([]);
    // Stalled: its lease's end lies the stall allowance (15 min) and grace (5 min) behind.
    w.clock.ms = stalledAt + 1;
    const late = await sweepDueJobs(deps, { limit: 10 });
    expect(late.collected).toBe(1);
    await expectResentAndCollected(w, deps, job.id);
  });

  it('resends a hand-over no collector took up after the short allowance, and then only after the full one', async () => {
    const w = new World();
    const deps = w.deps();
    // Its result message is lost (or waits in a backlog).
    const job = await handedOverLate(w, deps);
    const handedAt = w.clock.now();
    // At the (kept) deadline sweep time, ten minutes on: untaken for longer than 2 min + grace.
    w.clock.ms = Date.parse(job.sweepAt!) + 1;
    expect(w.clock.now() - handedAt).toBeGreaterThan(UNSTARTED_COLLECTION_MS + 300_000);
    expect((await sweepDueJobs(deps, { limit: 10 })).collected).toBe(1);
    expect(w.queues.take('result')).toBeDefined();
    // Lost again: from now on a collection waits the full stall allowance, as one taken up does.
    const resentAt = w.clock.now();
    w.clock.ms = resentAt + UNSTARTED_COLLECTION_MS + 300_000 + 1;
    expect((await sweepDueJobs(deps, { limit: 10 })).collected).toBe(0);
    w.clock.ms = resentAt + 20 * 60_000 + 1;
    expect((await sweepDueJobs(deps, { limit: 10 })).collected).toBe(1);
    await expectResentAndCollected(w, deps, job.id);
  });

  it('collects a run the sweeper handed over and died before queueing, minutes later, not a quarter hour', async () => {
    const w = new World();
    const deps = w.deps();
    const job = await finishedUpstream(w, deps);
    // The poll chain is lost; the sweeper finds the job past its deadline and grace.
    while (w.queues.take('poll')) {}
    w.clock.ms = Date.parse(job.sweepAt!) + 1;
    const dying = {
      ...deps,
      queues: Object.assign(Object.create(deps.queues), {
        scheduleResult: async () => Promise.reject(new Error('the sweeper died here')),
      }),
    };
    await sweepDueJobs(dying, { limit: 10 }).catch(() => undefined);
    const handed = (await w.store.get(job.id))!;
    expect(handed.upstreamFinishedAt).toBeDefined();
    expect(w.queues.take('result')).toBeUndefined();
    // Due again once its collection counts as stalled unstarted: 2 min + grace.
    const dueAt = w.clock.now() + UNSTARTED_COLLECTION_MS + 300_000;
    expect(handed.sweepAt).toBe(new Date(dueAt).toISOString());
    w.clock.ms = dueAt + 1;
    expect((await sweepDueJobs(deps, { limit: 10 })).collected).toBe(1);
    await expectResentAndCollected(w, deps, job.id);
  });

  it('keeps a backlog of early collections from filling the sweeper’s page ahead of due work', async () => {
    const w = new World();
    const deps = w.deps();
    const t0 = w.clock.now();
    // Three runs RunComfy finished, each with its next heartbeat waiting …
    const early: { id: string; beat: { body: unknown; id: string } }[] = [];
    for (let n = 0; n < 3; n++) {
      const job = await finishedUpstream(w, deps);
      early.push({ id: job.id, beat: w.queues.take('poll')! });
    }
    // … and, a minute later, a job whose poll chain is lost before it was ever submitted.
    w.clock.ms = t0 + 60_000;
    const { job: lost } = await submitEdit(deps, { input: INPUT, owner: 'local' });
    while (w.queues.take('poll')) {}
    // The three are handed over just before their deadline; their result messages sit in a backlog
    // (not yet as long as a collection may wait untaken when the sweep below comes).
    w.clock.ms = t0 + 14.5 * 60_000;
    for (const { beat } of early) await pollJob(deps, beat.body as PollMessage, beat.id);
    while (w.queues.take('result')) {}

    // Past every sweep time: the three collections come first in the index, not stalled yet.
    w.clock.ms = Date.parse((await w.store.get(lost.id))!.sweepAt!) + 1;
    const first = await sweepDueJobs(deps, { limit: 3 });
    expect(first).toMatchObject({ due: 3, collected: 0, ended: 0 });
    // They moved out of the way: the next sweep reaches the lost job and ends it.
    const second = await sweepDueJobs(deps, { limit: 3 });
    expect(second).toMatchObject({ due: 1, ended: 1 });
    expect((await w.store.get(lost.id))!.status).toBe('expired');
  });
});
