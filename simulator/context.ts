import type { Clock } from '#core/clock';
import { SimClock } from './clock.ts';
import { FaultInjector } from './faults.ts';
import { type Knobs, type KnobsInput, mergeKnobs } from './knobs.ts';
import { OutputFiles } from './outputs.ts';
import { createRng, type Rng } from './random.ts';
import type { JobScript } from './script.ts';
import { JobStore } from './state.ts';
import { RequestStats } from './stats.ts';

/** Where the simulator is reachable; every absolute URL in a response is built from these. */
export interface SimUrls {
  baseUrl: string;
  filesBaseUrl: string;
  /** Path prefix the server serves output files under (the path of `filesBaseUrl`). */
  filesPath: string;
}

/** The simulator's whole mutable state, shared by the HTTP server and the in-process admin. */
export class SimContext {
  readonly clock: SimClock;
  readonly store: JobStore;
  readonly faults = new FaultInjector();
  readonly stats = new RequestStats();
  readonly outputs: OutputFiles;
  /** Scripts waiting for the next submits, oldest first (admin "script the next submit"). */
  pendingScripts: JobScript[] = [];
  urls: SimUrls = { baseUrl: '', filesBaseUrl: '', filesPath: '/files' };
  #knobs: Knobs;
  #startKnobs: Partial<KnobsInput>;
  #rng: Rng;

  constructor(options: { knobs?: Partial<KnobsInput>; clock?: Clock; outputCacheBytes?: number } = {}) {
    this.#startKnobs = options.knobs ?? {};
    this.#knobs = mergeKnobs({}, this.#startKnobs);
    this.#rng = createRng(this.#knobs.random_seed);
    this.clock = new SimClock(options.clock, this.#knobs.clock_mode);
    this.outputs = new OutputFiles(options.outputCacheBytes);
    this.store = new JobStore({
      clock: this.clock,
      knobs: () => this.#knobs,
      rng: () => this.#rng,
      books: this.stats,
    });
  }

  get knobs(): Knobs {
    return this.#knobs;
  }

  get rng(): Rng {
    return this.#rng;
  }

  setKnobs(patch: Partial<KnobsInput>): Knobs {
    // Bring jobs up to date under the old timings before anything changes.
    this.store.settle();
    this.#knobs = mergeKnobs(this.#knobs, patch);
    this.clock.setMode(this.#knobs.clock_mode);
    if (patch.random_seed !== undefined) this.#rng = createRng(this.#knobs.random_seed);
    return this.#knobs;
  }

  /** Forgets jobs, balances, faults, scripts, stats and cached files; knobs go back to the start knobs (+ `knobs`). */
  reset(knobs: Partial<KnobsInput> = {}): void {
    this.#knobs = mergeKnobs(this.#startKnobs, knobs);
    this.clock.setMode(this.#knobs.clock_mode);
    this.#rng = createRng(this.#knobs.random_seed);
    this.store.reset();
    this.faults.reset();
    this.stats.reset();
    this.outputs.reset();
    this.pendingScripts = [];
  }
}
