/** The upstream endpoints a client can call, as counted by `GET /__sim/stats`. */
export type Endpoint = 'submit' | 'status' | 'result' | 'cancel' | 'catalog' | 'file' | 'unknown';

export interface StatsSnapshot {
  /** Every request outside the admin API, including the ones answered with injected faults. */
  total: number;
  by_endpoint: Record<Endpoint, number>;
  /** HTTP status answered, as a string (`"200"`); `"dropped"` when the socket was destroyed. */
  by_status: Record<string, number>;
  /** `"<endpoint> <status>"`, e.g. `"status 503"`. */
  by_endpoint_status: Record<string, number>;
  jobs_created: number;
  file_bytes_served: number;
}

/** Request counters, so benchmarks can count the calls the pipeline made upstream. */
export class RequestStats {
  #stats = RequestStats.#empty();

  static #empty(): StatsSnapshot {
    return {
      total: 0,
      by_endpoint: { submit: 0, status: 0, result: 0, cancel: 0, catalog: 0, file: 0, unknown: 0 },
      by_status: {},
      by_endpoint_status: {},
      jobs_created: 0,
      file_bytes_served: 0,
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
  }

  fileBytes(bytes: number): void {
    this.#stats.file_bytes_served += bytes;
  }

  snapshot(): StatsSnapshot {
    return structuredClone(this.#stats);
  }

  reset(): void {
    this.#stats = RequestStats.#empty();
  }
}
