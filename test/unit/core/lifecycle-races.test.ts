import { describe, expect, it } from 'vitest';
import type { Job } from '#core/jobs/job';
import { completionEvent } from '#core/notify/event-builders';
import { OutputCopyError } from '#core/outputs/index';
import { type Actor, actors, EDIT_INPUT, explore, World } from '../../support/race-harness.ts';

/*
 * Every interleaving of the actors that can touch one job — heartbeats, result collections,
 * cancels, sweeps, duplicates of each — at the granularity of their port calls, with a crash
 * after any one side effect, over the in-memory store (the same conditional writes the DynamoDB
 * adapter renders). After each run SQS's redelivery and the sweeper play out, and the job must
 * have exactly one terminal state, one completion notification, no paid result thrown away, at
 * most one upstream submission, and no output left that the job does not own.
 */

const INPUT = EDIT_INPUT;

/** Stores a job as the lifecycle would have left it; `at` offsets are from the world's now. */
async function seed(world: World, fields: Partial<Job> & { deadlineInMs?: number }): Promise<Job> {
  const now = world.clock.now();
  const deadlineAt = new Date(now + (fields.deadlineInMs ?? 600_000)).toISOString();
  const job: Job = {
    id: 'job-1',
    status: 'queued',
    input: INPUT,
    createdAt: new Date(now - 60_000).toISOString(),
    updatedAt: new Date(now - 60_000).toISOString(),
    deadlineAt,
    sweepAt: new Date(Date.parse(deadlineAt) + 300_000).toISOString(),
    submitAttempts: 0,
    pollCount: 0,
    ...fields,
  };
  delete (job as { deadlineInMs?: number }).deadlineInMs;
  await world.store.create(job);
  return job;
}

/** A run RunComfy has accepted (and maybe finished). */
async function run(world: World, state: 'queued' | 'running' | 'succeeded'): Promise<string> {
  const { requestId } = await world.runComfy.submit(INPUT);
  world.runComfy.calls.length = 0;
  if (state !== 'queued') world.runComfy.start(requestId);
  if (state === 'succeeded') world.runComfy.finish(requestId, 'succeeded', 2);
  return requestId;
}

/** RunComfy finished a run successfully (so it was billed, and must be collected). */
const finishedUpstream = (world: World) =>
  [...world.runComfy.runs.values()].some((run) => run.state === 'succeeded');

/** The invariants every settled world must satisfy. */
function settled(world: World, job: Job, expect_: { statuses: Job['status'][]; paid?: boolean }) {
  // Exactly one terminal state, and it was announced.
  expect(expect_.statuses).toContain(job.status);
  expect(job.notifiedAt).toBeDefined();
  // One completion notification (by event id), and it says what the job says.
  const eventIds = new Set(world.notifier.completions.map((completion) => completion.eventId));
  expect([...eventIds]).toEqual([completionEvent(job).event_id]);
  // A duplicate delivery of that one event only where a notifier died between sending and recording.
  const duplicates = world.notifier.completions.length - eventIds.size;
  if (duplicates > 0) expect(world.crashes.some((crash) => crash.after === 'notifier.completed')).toBe(true);
  // A run RunComfy finished successfully was paid for: it is never thrown away.
  const runs = [...world.runComfy.runs.values()];
  const succeededUpstream = runs.some((upstream) => upstream.state === 'succeeded');
  if (expect_.paid || (succeededUpstream && job.upstreamFinishedAt)) expect(job.status).toBe('succeeded');
  // The deadline bounds the wait for RunComfy only: a handed-over run is never expired.
  if (job.status === 'expired') {
    expect(job.upstreamFinishedAt).toBeUndefined();
    expect(job.error?.code).toBe('DEADLINE_EXCEEDED');
  }
  // At most one upstream submission.
  expect(world.runComfy.calls.filter((call) => call.operation === 'submit').length).toBeLessThanOrEqual(1);
  // No run left queued upstream (it would run and be charged) once the job ended otherwise —
  // except the one case no client can help: a crash between RunComfy's answer and recording it.
  const lostId = world.crashes.some((crash) => crash.after === 'runComfy.submit');
  if (job.status !== 'succeeded' && !lostId) {
    expect(runs.every((upstream) => upstream.state !== 'queued')).toBe(true);
  }
  if (lostId && !job.requestId) expect(job.error?.code).toBe('UPSTREAM_LOST');
  // Outputs: exactly the job's own, only when it succeeded.
  const keys = world.outputs.keysOf(job.id).sort();
  expect(keys).toEqual(
    (job.status === 'succeeded' ? (job.outputs ?? []).map((output) => output.key) : []).sort(),
  );
  if (job.status === 'succeeded') expect(job.outputs).toHaveLength(2);
}

/**
 * Every interleaving of every pair of the scenario's actors (with a crash after any one side
 * effect), exhaustively; then all of them at once, on a seeded sample of interleavings (the full
 * space of three actors runs to millions). Returns the runs made.
 */
async function everyInterleaving(
  scenario: (world: World) => Promise<{ jobId: string; actors: Actor[] }>,
  checkJob: (world: World, job: Job) => void,
) {
  const check = (world: World, job: Job | undefined) => {
    if (!job) throw new Error('the job vanished');
    checkJob(world, job);
  };
  const probe = await scenario(new World());
  let runs = 0;
  for (let first = 0; first < probe.actors.length; first++) {
    for (let second = first + 1; second < probe.actors.length; second++) {
      const pair = async (world: World) => {
        const made = await scenario(world);
        return { jobId: made.jobId, actors: [made.actors[first]!, made.actors[second]!] };
      };
      const result = await explore(pair, check, { maxCrashes: 1, budget: 100_000 });
      expect(result.exhausted).toBe(true);
      runs += result.runs;
    }
  }
  runs += (await explore(scenario, check, { maxCrashes: 1, sample: { runs: 1_000, seed: 7 } })).runs;
  return runs;
}

describe('Job lifecycle under races and crashes', () => {
  it('collects a finished run exactly once, whatever its result messages and the sweeper do', async () => {
    const runs = await everyInterleaving(
      async (world) => {
        const requestId = await run(world, 'succeeded');
        const past = new Date(world.clock.now() - 3_600_000).toISOString();
        const job = await seed(world, {
          status: 'running',
          requestId,
          submitAttempts: 1,
          pollCount: 3,
          upstreamFinishedAt: past,
          collectNextAt: past,
          // Long overdue, as if its first result message had been lost: the sweeper acts too.
          sweepAt: past,
          deadlineInMs: -3_600_000,
        });
        return {
          jobId: job.id,
          actors: [
            actors.result({ jobId: job.id, attempt: 0 }, 'm1'),
            actors.result({ jobId: job.id, attempt: 0 }, 'm1', 'result (same message again)'),
            actors.sweep(),
          ],
        };
      },
      (world, job) => settled(world, job, { statuses: ['succeeded'], paid: true }),
    );
    expect(runs).toBeGreaterThan(100);
  });

  it('hands a run that finished at the deadline to collection, never expiring it, whoever sees it first', async () => {
    await everyInterleaving(
      async (world) => {
        const requestId = await run(world, 'succeeded');
        const job = await seed(world, {
          requestId,
          submitAttempts: 1,
          pollCount: 2,
          deadlineInMs: -400_000,
        });
        return {
          jobId: job.id,
          actors: [
            actors.poll({ jobId: job.id, seq: 2 }, 'p2'),
            actors.poll({ jobId: job.id, seq: 2 }, 'p2', 'poll (same message again)'),
            actors.sweep(),
          ],
        };
      },
      (world, job) => settled(world, job, { statuses: ['succeeded'], paid: true }),
    );
  });

  it('collects a run that was still going at the deadline and finishes in the overtime (it is billed)', async () => {
    await everyInterleaving(
      async (world) => {
        const requestId = await run(world, 'running');
        const job = await seed(world, {
          status: 'running',
          requestId,
          submitAttempts: 1,
          pollCount: 2,
          deadlineInMs: -400_000,
        });
        return {
          jobId: job.id,
          actors: [
            actors.poll({ jobId: job.id, seq: 2 }, 'p2'),
            actors.sweep(),
            actors.upstreamFinishes(requestId),
          ],
        };
      },
      // Without the actor that finishes it (pairs), the run never ends and the overtime runs out.
      (world, job) =>
        settled(world, job, { statuses: ['succeeded', 'expired'], paid: finishedUpstream(world) }),
    );
  });

  it('past its overtime, expires a run still going, or collects it if it finished first, never both', async () => {
    await everyInterleaving(
      async (world) => {
        const requestId = await run(world, 'running');
        const job = await seed(world, {
          status: 'running',
          requestId,
          submitAttempts: 1,
          pollCount: 2,
          deadlineInMs: -1_300_000,
        });
        return {
          jobId: job.id,
          actors: [
            actors.poll({ jobId: job.id, seq: 2 }, 'p2'),
            actors.sweep(),
            actors.upstreamFinishes(requestId),
          ],
        };
      },
      (world, job) => settled(world, job, { statuses: ['succeeded', 'expired'] }),
    );
  });

  it('ends a queued job once when a cancel, its deadline heartbeat and the sweeper race', async () => {
    await everyInterleaving(
      async (world) => {
        const requestId = await run(world, 'queued');
        const job = await seed(world, { requestId, submitAttempts: 1, pollCount: 2, deadlineInMs: -400_000 });
        return {
          jobId: job.id,
          actors: [actors.cancel(job.id), actors.poll({ jobId: job.id, seq: 2 }, 'p2'), actors.sweep()],
        };
      },
      (world, job) => {
        settled(world, job, { statuses: ['cancelled', 'expired'] });
        expect(job.cost ?? 0).toBe(0);
      },
    );
  });

  it('announces a recorded cancel once when the heartbeat that carries it out races its brought-forward twin', async () => {
    await everyInterleaving(
      async (world) => {
        const requestId = await run(world, 'queued');
        // The API recorded the cancel (RunComfy could not take it then) and brought a heartbeat forward.
        const job = await seed(world, {
          requestId,
          submitAttempts: 1,
          pollCount: 2,
          cancelRequestedAt: new Date(world.clock.now() - 1_000).toISOString(),
        });
        return {
          jobId: job.id,
          actors: [
            actors.poll({ jobId: job.id, seq: 2 }, 'p2'),
            actors.poll({ jobId: job.id, seq: 2 }, 'p2-forward', 'poll (the brought-forward twin)'),
            actors.sweep(),
          ],
        };
      },
      (world, job) => {
        settled(world, job, { statuses: ['cancelled'] });
        expect(job.cost ?? 0).toBe(0);
      },
    );
  });

  it('submits at most once when the first heartbeat is delivered twice and a cancel arrives', async () => {
    await everyInterleaving(
      async (world) => {
        const job = await seed(world, {});
        return {
          jobId: job.id,
          actors: [
            actors.poll({ jobId: job.id, seq: 0 }, 'p0'),
            actors.poll({ jobId: job.id, seq: 0 }, 'p0', 'poll (same message again)'),
            actors.cancel(job.id),
          ],
        };
      },
      (world, job) => settled(world, job, { statuses: ['cancelled', 'expired', 'failed'] }),
    );
  });

  it('retries a collection whose output is not ready yet, under duplicates and the sweeper', async () => {
    await everyInterleaving(
      async (world) => {
        const requestId = await run(world, 'succeeded');
        const past = new Date(world.clock.now() - 60_000).toISOString();
        const job = await seed(world, {
          status: 'running',
          requestId,
          submitAttempts: 1,
          pollCount: 3,
          upstreamFinishedAt: past,
          collectNextAt: past,
          sweepAt: past,
        });
        // The file host answers 404 once (not ready yet), then serves the file.
        world.outputs.failNext = () => {
          throw new OutputCopyError('download_failed', 'https://files.runcomfy.net/0.png', 'answered 404', {
            retryable: true,
            httpStatus: 404,
          });
        };
        return {
          jobId: job.id,
          actors: [
            actors.result({ jobId: job.id, attempt: 0 }, 'm1'),
            actors.result({ jobId: job.id, attempt: 0 }, 'm2', 'result (a second hand-over)'),
            actors.sweep(),
          ],
        };
      },
      (world, job) => settled(world, job, { statuses: ['succeeded'], paid: true }),
    );
  });

  it('makes one job of concurrent submissions with one Idempotency-Key, crashes included', async () => {
    const result = await explore(
      async () => ({
        jobId: '',
        actors: [1, 2, 3].map((n) =>
          actors.submit({ prompt: 'once', image_urls: INPUT.image_urls }, 'key-1', `submit ${n}`),
        ),
      }),
      (world) => {
        // At most one job. None only if the one that made it could not queue its first heartbeat
        // (it is then discarded with its key, and its caller told to retry: 503, nothing recorded).
        const jobs = world.store.all();
        expect(jobs.length).toBeLessThanOrEqual(1);
        if (jobs.length === 0) {
          expect(world.crashes.some((crash) => crash.after === 'queues.schedulePoll')).toBe(true);
        }
      },
      { maxCrashes: 1, noDrain: true, budget: 100_000 },
    );
    expect(result.exhausted).toBe(true);
  });
});
