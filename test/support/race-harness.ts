/**
 * A deterministic harness that races the job core's actors (poll, result, cancel, sweep, and
 * duplicates of them) over the in-memory adapters, at the granularity of their port calls, and
 * crashes an actor after any side effect. `explore` enumerates every interleaving (depth-first
 * over the scheduler's choices) up to a budget; after each run, `drain` plays SQS's at-least-once
 * delivery to the end (redelivering what a crash left, running the sweeper on its schedule) so
 * the invariants can be checked on the settled world.
 */
import { MemoryJobStore } from '#adapters/memory/memory-job-store';
import { MemoryNotifier } from '#adapters/memory/memory-notifier';
import { MemoryOutputStore } from '#adapters/memory/memory-output-store';
import { MemoryQueues, type QueuedMessage } from '#adapters/memory/memory-queues';
import { MemoryRunComfy } from '#adapters/memory/memory-runcomfy';
import { cancelJob } from '#core/jobs/cancel-job';
import { type CollectDeps, collectResult } from '#core/jobs/collect-result';
import type { JobDeps } from '#core/jobs/deps';
import type { Job } from '#core/jobs/job';
import type { PollMessage, ResultMessage } from '#core/jobs/messages';
import { pollJob } from '#core/jobs/poll-job';
import { submitEdit } from '#core/jobs/submit-edit';
import { sweepDueJobs } from '#core/jobs/sweep-jobs';
import { silentLog } from '#core/log';
import type { Clock } from '#core/ports';

/** The edit request the core tests' jobs carry. */
export const EDIT_INPUT = {
  prompt: 'make it red',
  image_urls: ['https://inputs.example.com/a.png'],
  guidance_scale: 2.5,
  image_size: 'square_hd' as const,
  output_format: 'png' as const,
};

/** Port methods whose call changes the world: an actor may crash right after one. */
const SIDE_EFFECTS = new Set([
  'store.create',
  'store.write',
  'store.discard',
  'queues.schedulePoll',
  'queues.scheduleResult',
  'queues.scheduleWebhook',
  'runComfy.submit',
  'runComfy.cancel',
  'notifier.completed',
  'outputs.copy',
  'outputs.deleteJobOutputs',
]);

export class CrashError extends Error {
  override readonly name = 'CrashError';
}

export class ManualClock implements Clock {
  constructor(public ms: number) {}
  now(): number {
    return this.ms;
  }
  async sleep(ms: number): Promise<void> {
    this.ms += ms;
  }
}

/** The world one run acts on: the in-memory adapters, and what crashed. */
export class World {
  readonly clock: ManualClock;
  readonly store: MemoryJobStore;
  readonly queues = new MemoryQueues();
  readonly runComfy = new MemoryRunComfy();
  readonly notifier = new MemoryNotifier();
  readonly outputs = new MemoryOutputStore();
  /** Side effects after which an actor crashed, by actor. */
  readonly crashes: { actor: string; after: string }[] = [];
  /** Messages to deliver again (their handler crashed or failed), with when. */
  readonly redeliveries: {
    queue: 'poll' | 'result';
    body: PollMessage | ResultMessage;
    messageId: string;
  }[] = [];

  constructor(startMs = Date.parse('2026-06-01T12:00:00.000Z')) {
    this.clock = new ManualClock(startMs);
    this.store = new MemoryJobStore(this.clock);
  }

  deps(wrap: <T extends object>(port: T, name: string) => T = (port) => port): CollectDeps {
    return {
      config: {
        jobDeadlineSeconds: 900,
        maxPollDelaySeconds: 30,
        allowLoopbackHttp: false,
        sweepGraceSeconds: 300,
        resultRetryWindowSeconds: 900,
      },
      clock: this.clock,
      log: silentLog,
      metrics: { count() {} },
      store: wrap(this.store, 'store'),
      queues: wrap(this.queues, 'queues'),
      runComfy: wrap(this.runComfy, 'runComfy'),
      notifier: wrap(this.notifier, 'notifier'),
      outputs: wrap(this.outputs, 'outputs'),
      inputs: { policy: { allowed: [] }, resolve: async (urls) => [...urls] },
    };
  }
}

/** One actor: a core entry point called with its own (wrapped) deps. */
export interface Actor {
  name: string;
  run(deps: CollectDeps): Promise<unknown>;
  /** What to deliver again if it crashes (the message it was handling), if anything. */
  redeliver?: World['redeliveries'][number];
}

export const actors = {
  poll: (message: PollMessage, messageId: string, name = 'poll'): Actor => ({
    name,
    run: (deps) => pollJob(deps as JobDeps, message, messageId),
    redeliver: { queue: 'poll', body: message, messageId },
  }),
  result: (message: ResultMessage, messageId: string, name = 'result'): Actor => ({
    name,
    run: (deps) => collectResult(deps, message),
    redeliver: { queue: 'result', body: message, messageId },
  }),
  cancel: (jobId: string, name = 'cancel'): Actor => ({ name, run: (deps) => cancelJob(deps, jobId) }),
  sweep: (name = 'sweep'): Actor => ({ name, run: (deps) => sweepDueJobs(deps, { limit: 10 }) }),
  submit: (input: unknown, idempotencyKey: string, name = 'submit'): Actor => ({
    name,
    run: (deps) => submitEdit(deps, { input, owner: 'local', idempotencyKey }),
  }),
  /** RunComfy itself, finishing the run while the handlers race (its call is a point too). */
  upstreamFinishes: (requestId: string, name = 'RunComfy finishes'): Actor => ({
    name,
    run: async (deps) => (deps.runComfy as unknown as MemoryRunComfy).finish(requestId, 'succeeded', 2),
  }),
};

/** Picks among `n` alternatives; the explorer replays and extends a choice sequence. */
type Choose = (n: number) => number;

/**
 * Runs `actors` concurrently, one port call at a time in the order `choose` picks, crashing an
 * actor after a side effect when `choose` says so (at most `maxCrashes` per run).
 */
async function interleave(world: World, list: Actor[], choose: Choose, maxCrashes: number): Promise<void> {
  interface Waiting {
    actor: number;
    label: string;
    release: () => void;
  }
  const waiting: Waiting[] = [];
  let crashesLeft = maxCrashes;
  const done = new Set<number>();

  const wrapFor =
    (actor: number) =>
    <T extends object>(port: T, portName: string): T =>
      new Proxy(port, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver);
          if (typeof value !== 'function') return value;
          const label = `${portName}.${String(property)}`;
          return async (...args: unknown[]) => {
            await new Promise<void>((release) => waiting.push({ actor, label, release }));
            const result = await value.apply(target, args);
            if (SIDE_EFFECTS.has(label) && crashesLeft > 0 && choose(2) === 1) {
              crashesLeft -= 1;
              world.crashes.push({ actor: list[actor]!.name, after: label });
              throw new CrashError(`${list[actor]!.name} crashed after ${label}`);
            }
            return result;
          };
        },
      });

  const running = list.map((item, index) =>
    item
      .run(world.deps(wrapFor(index)))
      .catch((error: unknown) => {
        // A crash or a failure: SQS would deliver the message again after its visibility timeout.
        if (item.redeliver) world.redeliveries.push(item.redeliver);
        if (!causedByCrash(error) && !isExpectedFailure(error)) throw error;
      })
      .finally(() => done.add(index)),
  );

  for (;;) {
    // Let every actor run up to its next port call (or to its end).
    await settle();
    if (waiting.length === 0) break;
    const next = waiting.splice(choose(waiting.length), 1)[0]!;
    next.release();
  }
  await Promise.all(running);
}

/** A crash, or an error the code wrapped around one (it saw the crash as a failed call). */
function causedByCrash(error: unknown): boolean {
  for (let current = error; current; current = (current as { cause?: unknown }).cause) {
    if (current instanceof CrashError) return true;
  }
  return false;
}

/** Failures a handler reports by throwing (its message is retried): not bugs. */
function isExpectedFailure(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name;
  return ['NotCancellableError', 'NotFoundError', 'JobNotQueuedError'].includes(name ?? '');
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Plays the queues to the end with nothing racing: each message (and each redelivery) is
 * handled when due, the sweeper runs every five minutes of simulated time, until the job is
 * finished and announced and nothing is left — or a simulated week passes (then it is stuck).
 */
export async function drain(world: World, jobId: string): Promise<void> {
  const deps = world.deps();
  const VISIBILITY_MS = 720_000;
  const pending: { at: number; message: QueuedMessage | World['redeliveries'][number]; id: string }[] = [];
  let sweepAt = world.clock.now() + 300_000;
  const limit = world.clock.now() + 7 * 86_400_000;
  for (;;) {
    for (let sent = world.queues.take(); sent; sent = world.queues.take()) {
      pending.push({ at: world.clock.now() + sent.delaySeconds * 1000, message: sent, id: sent.id });
    }
    for (const again of world.redeliveries.splice(0)) {
      pending.push({ at: world.clock.now() + VISIBILITY_MS, message: again, id: again.messageId });
    }
    const job = await world.store.get(jobId);
    if (pending.length === 0 && job?.notifiedAt) return;
    if (world.clock.now() > limit) return;
    pending.sort((a, b) => a.at - b.at);
    const next = pending[0];
    if (!next || next.at > sweepAt) {
      world.clock.ms = Math.max(world.clock.ms, sweepAt);
      sweepAt += 300_000;
      await sweepDueJobs(deps, { limit: 10 }).catch(() => undefined);
      continue;
    }
    pending.shift();
    world.clock.ms = Math.max(world.clock.ms, next.at);
    const { queue, body } = next.message;
    try {
      if (queue === 'poll') await pollJob(deps, body as PollMessage, next.id);
      else if (queue === 'result') await collectResult(deps, body as ResultMessage);
      // Webhook deliveries are their own machine (tested in webhook-delivery.test.ts).
    } catch {
      if (queue !== 'webhook')
        pending.push({ at: world.clock.now() + VISIBILITY_MS, message: next.message, id: next.id });
    }
  }
}

export interface ExploreResult {
  runs: number;
  /** Every interleaving was run (depth-first mode only). */
  exhausted: boolean;
}

/** A small seeded PRNG (mulberry32), so a sampled interleaving can be replayed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Every interleaving of the actors a scenario makes (and every crash after a side effect, up to
 * `maxCrashes` per run), depth-first, each checked by `check` after the world drained. Stops at
 * `budget` runs (then `exhausted` is false).
 */
export async function explore(
  scenario: (world: World) => Promise<{ jobId: string; actors: Actor[] }>,
  check: (world: World, job: Job | undefined) => void,
  options: {
    maxCrashes?: number;
    budget?: number;
    sample?: { runs: number; seed: number };
    /** Check the world as the actors left it, without playing the queues out. */
    noDrain?: boolean;
  } = {},
): Promise<ExploreResult> {
  const budget = options.sample?.runs ?? options.budget ?? 20_000;
  const random = options.sample ? seeded(options.sample.seed) : undefined;
  let prefix: number[] = [];
  let runs = 0;
  for (;;) {
    const taken: { choice: number; of: number }[] = [];
    const choose: Choose = (n) => {
      const depth = taken.length;
      const choice = random
        ? Math.floor(random() * n)
        : depth < prefix.length
          ? (prefix[depth] as number)
          : 0;
      taken.push({ choice, of: n });
      return choice;
    };
    const world = new World();
    const { jobId, actors: list } = await scenario(world);
    await interleave(world, list, choose, options.maxCrashes ?? 1);
    if (!options.noDrain) await drain(world, jobId);
    const job = jobId ? await world.store.get(jobId) : world.store.all()[0];
    if (!job && !options.noDrain) {
      throw new Error(`job ${jobId} vanished (choices ${taken.map((t) => t.choice).join(',')})`);
    }
    try {
      check(world, job);
    } catch (error) {
      const path = taken.map((t) => t.choice).join(',');
      const crashed = world.crashes.map((c) => `${c.actor} after ${c.after}`).join('; ') || 'none';
      throw new Error(`${(error as Error).message}\n  choices: ${path}\n  crashes: ${crashed}`, {
        cause: error,
      });
    }
    runs += 1;
    if (random) {
      if (runs >= budget) return { runs, exhausted: false };
      continue;
    }
    // Next prefix: bump the deepest choice that has alternatives left.
    let depth = taken.length - 1;
    while (
      depth >= 0 &&
      (taken[depth] as { choice: number; of: number }).choice + 1 >= (taken[depth] as { of: number }).of
    )
      depth -= 1;
    if (depth < 0) return { runs, exhausted: true };
    if (runs >= budget) return { runs, exhausted: false };
    prefix = [...taken.slice(0, depth).map((t) => t.choice), (taken[depth] as { choice: number }).choice + 1];
  }
}
