/** The upstream endpoints a client can call, as counted by `GET /__sim/stats`. */
export type Endpoint = 'submit' | 'status' | 'result' | 'cancel' | 'catalog' | 'file' | 'unknown';

/**
 * Every kind of fault the simulator injects, as counted in `stats().injected` (one count per
 * event; a `slow` answer may also carry another fault). Per answer:
 * - `rate_limited`: a random 429 (`p_rate_limited`); `rate_limit`: a 429 of the `rate_limit` window;
 * - `<endpoint>_5xx`: a random 500/502/503 (`p_submit_5xx`, `p_status_5xx`, `p_cancel_5xx`);
 * - `fail_next`, `fail_next_drop`: an answer or a dropped connection from an `admin.failNext` rule;
 * - `slow`: an answer delayed by `slow_ms` (`p_slow`);
 * - `submit_dropped_after_commit`: a submit whose job was created and whose answer was lost (the
 *   `p_submit_drop_after` and `close_connection_on_submit_after_commit` knobs, the `drop_response`
 *   script, or a `failNext` `drop: 'after'` rule);
 * - `file_reset`: a download cut off mid-body (`p_file_reset`);
 * - `file_not_ready`: a 404 for a finished job's file that is not ready yet (`file_not_ready_s`).
 * Per job, drawn at submit: `job_fail`, `job_stall`, `job_long_run`, `job_file_not_ready`.
 */
export type InjectedFault =
  | 'rate_limited'
  | 'rate_limit'
  | `${Endpoint}_5xx`
  | 'fail_next'
  | 'fail_next_drop'
  | 'slow'
  | 'submit_dropped_after_commit'
  | 'file_reset'
  | 'file_not_ready'
  | 'job_fail'
  | 'job_stall'
  | 'job_long_run'
  | 'job_file_not_ready';

export interface StatsSnapshot {
  /** Every request outside the admin API, including the ones answered with injected faults. */
  total: number;
  by_endpoint: Record<Endpoint, number>;
  /** HTTP status answered, as a string (`"200"`); `"dropped"` when the socket was destroyed. */
  by_status: Record<string, number>;
  /** `"<endpoint> <status>"`, e.g. `"status 503"`. */
  by_endpoint_status: Record<string, number>;
  jobs_created: number;
  /** Bytes of output files sent (a download reset mid-body counts what was sent). */
  file_bytes_served: number;
  submits: {
    /** Submits that created a job (whether or not their answer reached the caller). */
    accepted: number;
    /** Submits answered 429 by the account's concurrency limit (`max_in_flight`); they created nothing. */
    refused_concurrency_limit: number;
  };
  /** Injected faults by kind ({@link InjectedFault}); kinds that never happened are absent. */
  injected: Partial<Record<InjectedFault, number>>;
  /** USD charged for runs that finished since the books were reset. */
  charged_usd: number;
}

/**
 * Request counters and books, so benchmarks can count the calls the pipeline made upstream and a
 * soak can check its invariants against what the simulator did. All start again at a stats reset.
 */
export class RequestStats {
  #stats = RequestStats.#empty();
  /** Summed in micro-dollars, so a total of many 0.01 charges stays exact. */
  #chargedMicroUsd = 0;

  static #empty(): StatsSnapshot {
    return {
      total: 0,
      by_endpoint: { submit: 0, status: 0, result: 0, cancel: 0, catalog: 0, file: 0, unknown: 0 },
      by_status: {},
      by_endpoint_status: {},
      jobs_created: 0,
      file_bytes_served: 0,
      submits: { accepted: 0, refused_concurrency_limit: 0 },
      injected: {},
      charged_usd: 0,
    };
  }

  arrived(endpoint: Endpoint): void {
    this.#stats.total++;
    this.#stats.by_endpoint[endpoint]++;
  }

  answered(endpoint: Endpoint, status: number | 'dropped'): void {
    const key = String(status);
    this.#stats.by_status[key] = (this.#stats.by_status[key] ?? 0) + 1;
    const pair = `${endpoint} ${key}`;
    this.#stats.by_endpoint_status[pair] = (this.#stats.by_endpoint_status[pair] ?? 0) + 1;
  }

  jobCreated(): void {
    this.#stats.jobs_created++;
    this.#stats.submits.accepted++;
  }

  refusedByConcurrencyLimit(): void {
    this.#stats.submits.refused_concurrency_limit++;
  }

  injected(kind: InjectedFault): void {
    this.#stats.injected[kind] = (this.#stats.injected[kind] ?? 0) + 1;
  }

  charged(usd: number): void {
    this.#chargedMicroUsd += Math.round(usd * 1e6);
  }

  fileBytes(bytes: number): void {
    this.#stats.file_bytes_served += bytes;
  }

  snapshot(): StatsSnapshot {
    return { ...structuredClone(this.#stats), charged_usd: this.#chargedMicroUsd / 1e6 };
  }

  reset(): void {
    this.#stats = RequestStats.#empty();
    this.#chargedMicroUsd = 0;
  }
}
