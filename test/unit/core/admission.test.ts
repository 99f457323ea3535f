import { describe, expect, it } from 'vitest';
import { MemoryAdmissionStore } from '#adapters/memory/memory-admission';
import {
  type AdmissionDeps,
  dispatchAdmissions,
  onDispatchNudge,
  recordSpend,
  UNCLAIMED_SLOT_MS,
} from '#core/jobs/admission';
import { cancelJob } from '#core/jobs/cancel-job';
import type { JobView } from '#core/jobs/job-view';
import type { DispatchMessage, PollMessage } from '#core/jobs/messages';
import { pollJob } from '#core/jobs/poll-job';
import { submitEdit } from '#core/jobs/submit-edit';
import { World } from '../../support/race-harness.ts';

const INPUT = { prompt: 'p', image_urls: ['https://inputs.example.com/a.png'] };

/** A world with admission control at `limit` slots. */
function world(limit: number, extra: Partial<AdmissionDeps['config']> = {}) {
  const w = new World();
  const admission = new MemoryAdmissionStore(w.store);
  const base = w.deps();
  const deps: AdmissionDeps = {
    ...base,
    admission,
    config: { ...base.config, upstreamConcurrency: limit, ...extra },
  };
  return { w, admission, deps };
}

async function submit(deps: AdmissionDeps, batch?: { id: string; line: number }) {
  return (await submitEdit(deps, { input: INPUT, owner: 'local', ...(batch ? { batch } : {}) })).job;
}

/**
 * Submits jobs that find no free slot (another arrival takes it first), so they wait in line for
 * the dispatchers whatever the limit.
 */
async function lineUp(deps: AdmissionDeps, count: number, batch?: { id: string; line: number }) {
  const full = new Proxy(deps.admission, {
    get(target, property) {
      if (property === 'acquire') return async () => false;
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const jobs = [];
  for (let i = 0; i < count; i++) jobs.push(await submit({ ...deps, admission: full }, batch));
  return jobs;
}

/** Runs every queued heartbeat once (and what they send), like the poll queue would. */
async function drainPolls(w: World, deps: AdmissionDeps) {
  for (let i = 0; i < 100; i++) {
    const next = w.queues.take('poll');
    if (!next) return;
    if ('dispatch' in next.body) await onDispatchNudge(deps, next.body as DispatchMessage);
    else await pollJob(deps, next.body as PollMessage, next.id);
  }
}

const heldBy = (admission: MemoryAdmissionStore) => Object.keys(admission.holders);

/** The world's job store, with the ids of the jobs read by `get` recorded. */
function countingReads(w: World) {
  // Ids read one by one (`get`), and each batch read's ids (`getMany`: one request per batch).
  const reads: string[] = [];
  const batches: string[][] = [];
  const store = new Proxy(w.store, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property === 'get')
        return async (id: string) => {
          reads.push(id);
          return target.get(id);
        };
      if (property === 'getMany')
        return async (ids: readonly string[]) => {
          batches.push([...ids]);
          return target.getMany(ids);
        };
      return value.bind(target);
    },
  });
  return { store, reads, batches };
}

/** One slot, held by the first of two jobs; the second waits in line. */
async function oneSlotTaken() {
  const one = world(1);
  const [first, second] = [await submit(one.deps), await submit(one.deps)];
  await drainPolls(one.w, one.deps);
  return { ...one, first, second };
}

describe('Function: dispatchAdmissions', () => {
  it('admits at most the limit, in arrival order, and puts the rest in line', async () => {
    const { w, admission, deps } = world(2);
    const jobs = [await submit(deps), await submit(deps), await submit(deps)];

    await drainPolls(w, deps);

    expect(heldBy(admission).sort()).toEqual([jobs[0]!.id, jobs[1]!.id].sort());
    const waiting = (await w.store.get(jobs[2]!.id))!;
    expect(waiting.waitLane).toBe('interactive');
    expect(w.runComfy.calls.filter((call) => call.operation === 'submit')).toHaveLength(2);
  });

  it('takes the free slots in one write; racing dispatchers admit every job once', async () => {
    const { w, admission, deps } = world(10);
    const jobs = await lineUp(deps, 4);
    const acquired: string[][] = [];
    const acquire = admission.acquire.bind(admission);
    admission.acquire = async (ids, limit, nowMs) => {
      acquired.push([...ids]);
      return acquire(ids, limit, nowMs);
    };
    w.queues.sent.length = 0;

    const admitted = await Promise.all([dispatchAdmissions(deps), dispatchAdmissions(deps)]);

    expect(admitted.reduce((a, b) => a + b, 0)).toBe(4);
    expect(heldBy(admission).sort()).toEqual(jobs.map((job) => job.id).sort());
    expect(acquired[0]).toEqual(jobs.map((job) => job.id));
    // One first heartbeat per job: each was admitted by one dispatcher.
    const beats = w.queues.sent.filter((message) => message.queue === 'poll' && 'jobId' in message.body);
    expect(beats.map((message) => (message.body as PollMessage).jobId).sort()).toEqual(
      jobs.map((job) => job.id).sort(),
    );
  });

  it('does not look at every holder when another dispatcher just filled the slots', async () => {
    const { w, admission, deps } = world(2);
    await lineUp(deps, 2);
    const { store, reads, batches } = countingReads(w);
    // Another dispatcher takes both slots between this one's read and its acquire.
    const acquire = admission.acquire.bind(admission);
    let first = true;
    admission.acquire = async (ids, limit, nowMs) => {
      if (first) {
        first = false;
        await acquire(ids, limit, nowMs);
      }
      return acquire(ids, limit, nowMs);
    };

    await dispatchAdmissions({ ...deps, store });

    // Outrun, it found the slots full and left them: no read of each holder's job.
    expect(heldBy(admission)).toHaveLength(2);
    expect(reads).toEqual([]);
    expect(batches).toEqual([]);
  });

  it('reads no holder’s job when it filled the slots itself', async () => {
    // Prepare: two slots, three jobs in line; reads of the job store counted
    const { w, admission, deps } = world(2);
    const waiting = await lineUp(deps, 3);
    const { store, reads, batches } = countingReads(w);

    // Act & Assess: it admits two (one read each) and stops at the slots it filled
    expect(await dispatchAdmissions({ ...deps, store })).toBe(2);
    expect(reads.sort()).toEqual([waiting[0]!.id, waiting[1]!.id].sort());
    expect(batches).toEqual([]);

    // A dispatch that finds them full from the start looks at every holder in one batch read
    // (both in use: kept).
    reads.length = 0;
    expect(await dispatchAdmissions({ ...deps, store })).toBe(0);
    expect(reads).toEqual([]);
    expect(batches.map((ids) => ids.sort())).toEqual([[waiting[0]!.id, waiting[1]!.id].sort()]);
    expect(heldBy(admission)).toHaveLength(2);
  });

  it('keeps the slot of a holder whose job the batch read did not get to (throttled)', async () => {
    // Prepare: the one slot held by a job that ended without giving it back, a job waiting for
    // it, and a store that leaves that holder out of its batch reads, as DynamoDB's
    // UnprocessedKeys does
    const { w, admission, deps } = world(1);
    const [stale, waiting] = await lineUp(deps, 2);
    // Taken long ago: had the unread holder counted as "no job", its slot would go.
    admission.holders[stale!.id] = w.clock.now() - UNCLAIMED_SLOT_MS - 1;
    await w.store.write(
      stale!.id,
      (await import('#core/jobs/lifecycle')).cancel(undefined, { nowMs: w.clock.now(), graceMs: 0 }),
    );
    const throttled = Object.assign(Object.create(w.store) as typeof w.store, {
      getMany: async (ids: readonly string[]) => {
        const read = await w.store.getMany(ids);
        read.delete(stale!.id);
        return read;
      },
    });

    // Act & Assess: not read is not "no job": the slot stays until a later look reads it
    expect(await dispatchAdmissions({ ...deps, store: throttled })).toBe(0);
    expect(heldBy(admission)).toEqual([stale!.id]);
    expect(await dispatchAdmissions(deps)).toBe(1);
    expect(heldBy(admission)).toEqual([waiting!.id]);
  });

  it('admits interactive jobs before batch lines, whatever arrived first', async () => {
    const { w, admission, deps } = world(1);
    const first = await submit(deps);
    const batch = [await submit(deps, { id: 'b', line: 1 }), await submit(deps, { id: 'b', line: 2 })];
    const interactive = await submit(deps);
    await drainPolls(w, deps);
    expect(heldBy(admission)).toEqual([first.id]);

    // The first run ends upstream: its slot goes to the interactive job, not the older batch line.
    const { requestId } = (await w.store.get(first.id))!;
    w.runComfy.start(requestId!);
    w.runComfy.finish(requestId!);
    w.clock.ms += 5_000;
    const heartbeat = w.queues.sent.find((message) => message.queue === 'poll')!;
    w.queues.sent.splice(w.queues.sent.indexOf(heartbeat), 1);
    await pollJob(deps, heartbeat.body as PollMessage, heartbeat.id);

    expect(heldBy(admission)).toEqual([interactive.id]);
    expect((await w.store.get(batch[0]!.id))!.waitLane).toBe('batch');
  });

  it('admits the head of the line with the slot a dead dispatcher took for it, below the limit too', async () => {
    // Prepare: three free slots; a dispatcher took one for the first job in line and died
    const { w, admission, deps } = world(4);
    const busy = await submit(deps);
    await drainPolls(w, deps);
    deps.config.upstreamConcurrency = 1;
    const [head, next] = [await submit(deps), await submit(deps)];
    await drainPolls(w, deps);
    deps.config.upstreamConcurrency = 4;
    admission.holders[head.id] = w.clock.now();
    w.clock.ms += UNCLAIMED_SLOT_MS + 1_000;

    // Act
    await dispatchAdmissions(deps);
    await drainPolls(w, deps);

    // Assess: nobody waits behind a slot its own job holds
    expect(heldBy(admission).sort()).toEqual([busy.id, head.id, next.id].sort());
    expect((await w.store.get(head.id))!.admittedAt).toBeDefined();
    expect((await w.store.get(next.id))!.admittedAt).toBeDefined();
  });

  it('takes a slot back from a job that ended, and from a dispatcher that died before admitting', async () => {
    const { w, admission, deps } = world(2);
    const [a, b, c] = [await submit(deps), await submit(deps), await submit(deps)];
    // A dispatcher died holding a slot it never turned into an admission, and `a` ended without
    // giving its slot back (its handler died after the finishing write).
    admission.holders[b.id] = w.clock.now();
    admission.holders[a.id] = w.clock.now();
    await w.store.write(
      a.id,
      (await import('#core/jobs/lifecycle')).cancel(undefined, { nowMs: w.clock.now(), graceMs: 0 }),
    );

    w.clock.ms += UNCLAIMED_SLOT_MS + 1;
    await dispatchAdmissions(deps);

    // Both slots reclaimed, and given to the line in order (b first: it kept its place).
    expect(heldBy(admission).sort()).toEqual([b.id, c.id].sort());
  });

  it('gives the slot of a cancelled waiting job to nobody (it had none) and keeps the line moving', async () => {
    const { w, admission, deps } = world(1);
    const [first, second, third] = [await submit(deps), await submit(deps), await submit(deps)];
    await drainPolls(w, deps);

    await cancelJob(deps, second.id);
    expect((await w.store.get(second.id))!.status).toBe('cancelled');
    expect(heldBy(admission)).toEqual([first.id]);

    await cancelJob(deps, first.id); // queued upstream: RunComfy cancels it; its slot goes to the next
    await drainPolls(w, deps);
    expect(heldBy(admission)).toEqual([third.id]);
  });

  it('leaves a cancel’s slot to a dispatcher: the API call sends one message and admits nobody itself', async () => {
    const { w, admission, deps, first, second } = await oneSlotTaken();
    const { store, reads } = countingReads(w);
    w.queues.sent.length = 0;

    await cancelJob({ ...deps, store }, first.id);

    // Read, RunComfy's cancel, the finishing write: no dispatch (a read of the line, the
    // slots, the next job) inside the API call's budget.
    expect(reads).toEqual([first.id]);
    expect(heldBy(admission)).toEqual([first.id]);
    const sent = w.queues.sent.map((message) => [message.queue, message.body]);
    expect(sent).toEqual(
      expect.arrayContaining([
        ['poll', { dispatch: true, release: first.id }],
        ['result', { jobId: first.id, attempt: 0 }],
      ]),
    );
    expect(sent).toHaveLength(2);

    await drainPolls(w, deps);
    expect(heldBy(admission)).toEqual([second.id]);
  });

  it('takes back a cancelled job’s slot whose release message was lost, once the slots are full', async () => {
    const { admission, deps, first, second } = await oneSlotTaken();
    const lost = Object.assign(Object.create(deps.queues), {
      schedulePoll: async () => Promise.reject(new Error('SQS is down')),
    });

    await expect(cancelJob({ ...deps, queues: lost }, first.id)).resolves.toMatchObject({
      status: 'cancelled',
    });
    expect(heldBy(admission)).toEqual([first.id]);

    await dispatchAdmissions(deps);
    expect(heldBy(admission)).toEqual([second.id]);
  });

  it('halves the limit when RunComfy answers 429, puts the job back at its place, and recovers', async () => {
    const { w, admission, deps } = world(4);
    w.runComfy.failNext('submit', 'rate_limited', 429);
    const jobs = [await submit(deps), await submit(deps)];

    await drainPolls(w, deps);

    // Halved to 2 by the 429, then raised by one when the other submission went through.
    expect(admission.limit).toBe(3);
    const requeued = (await w.store.get(jobs[0]!.id))!;
    // Back in line at its old place, then admitted again by the next dispatch.
    expect(requeued.waitKey).toBeDefined();
    await dispatchAdmissions(deps);
    await drainPolls(w, deps);
    expect(w.runComfy.runs.size).toBe(2);
    // Each accepted submission raised the limit again, up to the setting.
    expect(admission.limit).toBe(4);
  });

  it('admits a job arriving at a free slot at once: no place in line, no dispatch, no line number', async () => {
    const { w, admission, deps } = world(2);
    let seqs = 0;
    const nextSeq = admission.nextSeq.bind(admission);
    admission.nextSeq = async (count) => {
      seqs += 1;
      return nextSeq(count);
    };

    const job = await submit(deps);

    expect(heldBy(admission)).toEqual([job.id]);
    const stored = (await w.store.get(job.id))!;
    expect(stored).toMatchObject({ status: 'queued', lane: 'interactive' });
    expect(stored.admittedAt).toBeDefined();
    expect(stored.waitLane ?? stored.waitKey).toBeUndefined();
    expect(stored.sweepAt).toBeDefined();
    expect(seqs).toBe(0);
    // Its first heartbeat, not a nudge to the dispatchers; it submits the job.
    expect(w.queues.sent.map((message) => message.body)).toEqual([{ jobId: job.id, seq: 0 }]);
    await drainPolls(w, deps);
    expect((await w.store.get(job.id))!.requestId).toBeDefined();
  });

  it('sends an arrival’s first heartbeat before recording it; a heartbeat early for its job waits for it', async () => {
    const { w, deps } = world(2);
    const order: string[] = [];
    const create = w.store.create.bind(w.store);
    const store = Object.assign(Object.create(w.store), {
      create: async (...args: Parameters<typeof create>) => {
        order.push(`create:${w.queues.sent.length}`);
        return create(...args);
      },
    });

    const job = await submit({ ...deps, store });

    // The heartbeat was queued before the job was written.
    expect(order).toEqual(['create:1']);
    // A heartbeat for a job not recorded yet is put back a second later, up to a bound, then dropped.
    const early = { jobId: 'recorded-in-a-moment', seq: 0 };
    w.queues.sent.length = 0;
    expect(await pollJob(deps, early, 'm-1')).toBe('rescheduled');
    expect(w.queues.sent.at(-1)).toMatchObject({ body: { ...early, waits: 1 }, delaySeconds: 1 });
    expect(await pollJob(deps, { ...early, waits: 10 }, 'm-2')).toBe('dropped');
    expect(await pollJob(deps, { jobId: job.id, seq: 0, waits: 3 }, 'm-3')).not.toBe('dropped');
  });

  it('puts an arrival in line behind those waiting, even with a slot free; an edit goes before batch lines', async () => {
    // An edit waits; both slots are free (no dispatch ran yet): arrivals of either lane wait behind it
    const one = world(2);
    await lineUp(one.deps, 1);
    const edit = await submit(one.deps);
    const line = await submit(one.deps, { id: 'b', line: 1 });
    expect(heldBy(one.admission)).toEqual([]);
    expect((await one.w.store.get(edit.id))!.waitLane).toBe('interactive');
    expect((await one.w.store.get(line.id))!.waitLane).toBe('batch');

    // Only a batch line waits: an edit arriving goes ahead of it, a batch line arriving does not
    const two = world(2);
    const [waitingLine] = await lineUp(two.deps, 1, { id: 'b', line: 1 });
    const ahead = await submit(two.deps);
    const behind = await submit(two.deps, { id: 'b', line: 2 });
    expect(heldBy(two.admission)).toEqual([ahead.id]);
    expect(
      (await two.w.store.get(behind.id))!.waitKey! > (await two.w.store.get(waitingLine!.id))!.waitKey!,
    ).toBe(true);
  });

  it('puts a job admitted on arrival that RunComfy pushed back at the head of its lane', async () => {
    // Prepare: the first job takes a free slot; two more find none and wait
    const { w, admission, deps } = world(4);
    const first = await submit(deps);
    const waiting = await lineUp(deps, 2);
    w.runComfy.failNext('submit', 'rate_limited', 429);

    // Act: its first heartbeat submits it, and RunComfy answers 429
    const beat = w.queues.take('poll')!;
    await pollJob(deps, beat.body as PollMessage, beat.id);

    // Assess: limit halved, slot given back, and first in line again (the head's place: they came after it)
    expect(admission.limit).toBe(2);
    const requeued = (await w.store.get(first.id))!;
    expect(requeued).toMatchObject({ waitLane: 'interactive', status: 'queued' });
    expect(requeued.admittedAt).toBeUndefined();
    expect(requeued.waitKey).toBe((await w.store.get(waiting[0]!.id))!.waitKey);
    expect(heldBy(admission)).not.toContain(first.id);
  });

  it('takes nothing for an idempotent repeat, gives back the slot a racing one took, and keeps a slot whose job is being recorded', async () => {
    const { w, admission, deps } = world(1);
    const request = { input: INPUT, owner: 'local', idempotencyKey: 'k-1' };
    const made = await submitEdit(deps, request);
    await drainPolls(w, deps);
    // The first job's run ends, so its slot is free again for a repeat to take.
    await cancelJob(deps, made.job.id);
    await drainPolls(w, deps);
    expect(heldBy(admission)).toEqual([]);
    const sent = w.queues.sent.length;

    // A repeat (a client's retry) finds its job by the key first: no slot, no heartbeat.
    const again = await submitEdit(deps, request);
    expect(again).toMatchObject({ created: false, job: { id: made.job.id } });
    expect(heldBy(admission)).toEqual([]);
    expect(w.queues.sent.length).toBe(sent);

    // Two at once with a new key: both pass the look, one is made, the other gives its slot back.
    const racing = { ...request, idempotencyKey: 'k-2' };
    const [one, other] = await Promise.all([submitEdit(deps, racing), submitEdit(deps, racing)]);
    expect([one.created, other.created].sort()).toEqual([false, true]);
    expect(one.job.id).toBe(other.job.id);
    expect(heldBy(admission)).toEqual([one.job.id]);
    await cancelJob(deps, one.job.id);
    await drainPolls(w, deps);
    expect(heldBy(admission)).toEqual([]);

    // A slot taken for a job not recorded yet is not taken away from it at once; after a while it is.
    const arriving = 'a-job-being-recorded';
    admission.holders[arriving] = w.clock.now();
    await lineUp(deps, 1); // a dispatch finds the slots full and looks at every holder
    await dispatchAdmissions(deps);
    expect(heldBy(admission)).toContain(arriving);
    w.clock.ms += UNCLAIMED_SLOT_MS + 1;
    await dispatchAdmissions(deps);
    expect(heldBy(admission)).not.toContain(arriving);
  });

  it('keeps the day’s spend only while a cap is set (nothing else reads it)', async () => {
    const capped = world(4, { dailySpendCapUsd: 5 });
    const uncapped = world(4);
    const day = new Date(capped.w.clock.now()).toISOString().slice(0, 10);

    await recordSpend(capped.deps, 0.02);
    await recordSpend(uncapped.deps, 0.02);

    expect(await capped.admission.spend(day)).toBe(0.02);
    expect(await uncapped.admission.spend(day)).toBe(0);
  });

  it('answers an idempotent repeat with its job even once the day’s spend reached the cap', async () => {
    const { w, admission, deps } = world(4, { dailySpendCapUsd: 0.05 });
    const request = { input: INPUT, owner: 'local', idempotencyKey: 'paid-already' };
    const made = await submitEdit(deps, request);
    await admission.addSpend(new Date(w.clock.now()).toISOString().slice(0, 10), 0.05);

    await expect(submitEdit(deps, request)).resolves.toMatchObject({
      created: false,
      job: { id: made.job.id },
    });
    await expect(submitEdit(deps, { ...request, idempotencyKey: 'new' })).rejects.toMatchObject({
      code: 'SPEND_CAP_REACHED',
    });
  });

  it('refuses new submissions once the day’s spend reached the cap, until the next UTC day', async () => {
    const { w, admission, deps } = world(4, { dailySpendCapUsd: 0.05 });
    await admission.addSpend(new Date(w.clock.now()).toISOString().slice(0, 10), 0.05);

    const refused = await submit(deps).catch(
      (error: unknown) => error as { status: number; code: string; resetAt: string },
    );
    expect(refused).toMatchObject({ status: 429, code: 'SPEND_CAP_REACHED' });
    expect((refused as { resetAt: string }).resetAt).toBe('2026-06-02T00:00:00.000Z');

    w.clock.ms = Date.parse('2026-06-02T00:00:01.000Z');
    const accepted: JobView | unknown = await submit(deps);
    expect(accepted).toMatchObject({ status: 'queued' });
  });
});
