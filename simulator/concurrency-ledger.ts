/**
 * Each user's jobs queued or running at RunComfy over time: how many now, the most at once, and
 * their integral over time (so a soak can tell how well the pipeline used its concurrency).
 */
/** A user's jobs queued or running at RunComfy: now, the most at once, and their time integral. */
export interface ConcurrencyBooks {
  in_flight: number;
  max_in_flight: number;
  /** ∫ in_flight dt over [since, now] on the sim clock, in job-milliseconds. */
  in_flight_ms_integral: number;
  /** Sim-clock ms the books run from (the last reset of the stats or of the simulator). */
  since: number;
  /** now − since: utilisation = in_flight_ms_integral / (limit × measured_ms). */
  measured_ms: number;
}

interface UserBooks {
  count: number;
  max: number;
  integral: number;
  lastAt: number;
}

export class ConcurrencyLedger {
  #users = new Map<string, UserBooks>();
  /** When the books started (reset, or a stats reset). */
  #since: number;

  constructor(now: number) {
    this.#since = now;
  }

  /** A job of `userId` entered (+1) or left (-1) the queued-or-running set at `at`. */
  account(at: number, userId: string, delta: 1 | -1): void {
    let books = this.#users.get(userId);
    if (!books) {
      books = { count: 0, max: 0, integral: 0, lastAt: at };
      this.#users.set(userId, books);
    }
    books.integral += books.count * Math.max(0, at - books.lastAt);
    books.lastAt = Math.max(books.lastAt, at);
    books.count += delta;
    books.max = Math.max(books.max, books.count);
  }

  inFlight(userId: string): number {
    return this.#users.get(userId)?.count ?? 0;
  }

  /** The books per user who has had a job since the books started, as of `now`. */
  report(now: number): Record<string, ConcurrencyBooks> {
    return Object.fromEntries(
      [...this.#users.entries()].map(([userId, books]) => [
        userId,
        {
          in_flight: books.count,
          max_in_flight: books.max,
          in_flight_ms_integral: books.integral + books.count * Math.max(0, now - books.lastAt),
          since: this.#since,
          measured_ms: now - this.#since,
        },
      ]),
    );
  }

  /** Starts the books again from `now`; the jobs in flight stay. */
  restart(now: number): void {
    this.#since = now;
    for (const books of this.#users.values()) {
      books.integral = 0;
      books.lastAt = now;
      books.max = books.count;
    }
  }

  /** Forgets every user (a simulator reset). */
  clear(now: number): void {
    this.#users.clear();
    this.#since = now;
  }
}
