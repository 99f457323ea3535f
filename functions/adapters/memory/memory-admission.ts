import type { AdmissionStore } from '#core/ports';
import type { MemoryJobStore } from './memory-job-store.ts';

/** Admission in memory, with the same conditional semantics as the DynamoDB record. */
export class MemoryAdmissionStore implements AdmissionStore {
  readonly holders: Record<string, number> = {};
  limit: number | undefined;
  #seq = 0;
  readonly #spend = new Map<string, number>();

  /** The line is read from the jobs themselves, as the waiting index holds them. */
  constructor(private readonly jobs: Pick<MemoryJobStore, 'all'>) {}

  async nextSeq(count = 1): Promise<number> {
    this.#seq += count;
    return this.#seq;
  }

  async slots() {
    return { holders: { ...this.holders }, limit: this.limit };
  }

  async acquire(jobIds: readonly string[], limit: number, nowMs: number): Promise<boolean> {
    if (Object.keys(this.holders).length + jobIds.length > limit) return false;
    if (jobIds.some((jobId) => jobId in this.holders)) return false;
    for (const jobId of jobIds) this.holders[jobId] = nowMs;
    return true;
  }

  async release(jobId: string): Promise<void> {
    delete this.holders[jobId];
  }

  async setLimit(limit: number, expected: number | undefined): Promise<boolean> {
    if (this.limit !== expected) return false;
    this.limit = limit;
    return true;
  }

  async waiting(lane: 'interactive' | 'batch', count: number) {
    return this.jobs
      .all()
      .filter((job) => job.waitLane === lane && job.waitKey !== undefined)
      .sort((a, b) => ((a.waitKey as string) < (b.waitKey as string) ? -1 : 1))
      .slice(0, Math.max(0, count))
      .map((job) => ({ jobId: job.id, waitKey: job.waitKey as string }));
  }

  async spend(day: string): Promise<number> {
    return this.#spend.get(day) ?? 0;
  }

  async addSpend(day: string, usd: number): Promise<void> {
    this.#spend.set(day, (this.#spend.get(day) ?? 0) + usd);
  }
}
