import { type Clock, systemClock } from '#core/clock';

export type ClockMode = 'timed' | 'manual' | 'polls';

/**
 * The simulator's notion of "now". In `timed` mode it follows the injected clock plus whatever
 * tests added with {@link SimClock.advance}; in `manual` and `polls` modes it is frozen and only
 * `advance` moves it, so state changes happen exactly when a test says so.
 */
export class SimClock {
  #source: Clock;
  #mode: ClockMode;
  #offsetMs = 0;
  #frozenAt: number;

  constructor(source: Clock = systemClock, mode: ClockMode = 'timed') {
    this.#source = source;
    this.#mode = mode;
    this.#frozenAt = source.now();
  }

  get mode(): ClockMode {
    return this.#mode;
  }

  now(): number {
    return this.#mode === 'timed' ? this.#source.now() + this.#offsetMs : this.#frozenAt;
  }

  /** Switching mode keeps "now" continuous, so no job sees time jump backwards. */
  setMode(mode: ClockMode): void {
    if (mode === this.#mode) return;
    const current = this.now();
    this.#mode = mode;
    if (mode === 'timed') this.#offsetMs = current - this.#source.now();
    else this.#frozenAt = current;
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('advance needs a finite, non-negative ms');
    if (this.#mode === 'timed') this.#offsetMs += ms;
    else this.#frozenAt += ms;
  }
}
