import { type Clock, systemClock } from '#core/clock';
import { holds } from '#core/jobs/conditions';
import type { Job } from '#core/jobs/job';
import type { JobWrite } from '#core/jobs/lifecycle';
import type { CreateResult, IdempotencyClaim, JobStore } from '#core/ports';

/**
 * The job store in memory, with DynamoDB's semantics where the core relies on them: every write
 * is atomic and conditional (the lifecycle's conditions, evaluated on the stored record), reads
 * are strongly consistent, and callers get copies, never the stored object. Used by the fast tests
 * that race the core's actors against each other.
 */
export class MemoryJobStore implements JobStore {
  readonly #jobs = new Map<string, Job>();
  readonly #keys = new Map<string, { jobId: string; fingerprint: string }>();

  constructor(private readonly clock: Clock = systemClock) {}

  async create(job: Job, idempotency?: IdempotencyClaim): Promise<CreateResult> {
    if (idempotency) {
      const existing = this.#keys.get(idempotency.key);
      if (existing) {
        return {
          created: false,
          existingJobId: existing.jobId,
          fingerprintMatches: existing.fingerprint === idempotency.fingerprint,
        };
      }
    }
    if (this.#jobs.has(job.id)) throw new Error(`job ${job.id} exists already`);
    this.#jobs.set(job.id, structuredClone(withoutUndefined(job)));
    if (idempotency) this.#keys.set(idempotency.key, { jobId: job.id, fingerprint: idempotency.fingerprint });
    return { created: true, job: structuredClone(job) };
  }

  async get(id: string): Promise<Job | undefined> {
    const job = this.#jobs.get(id);
    return job ? structuredClone(job) : undefined;
  }

  async write(id: string, change: JobWrite): Promise<Job | undefined> {
    const job = this.#jobs.get(id);
    if (!job || !holds(change.condition, job as unknown as Record<string, unknown>)) return undefined;
    const record = job as unknown as Record<string, unknown>;
    for (const [attribute, value] of Object.entries(change.set)) {
      if (value !== undefined) record[attribute] = structuredClone(value);
    }
    for (const [attribute, value] of Object.entries(change.setIfAbsent)) {
      if (value !== undefined && record[attribute] === undefined) record[attribute] = structuredClone(value);
    }
    for (const attribute of change.remove) delete record[attribute];
    job.updatedAt = new Date(this.clock.now()).toISOString();
    return structuredClone(job);
  }

  async discard(job: Job): Promise<void> {
    this.#jobs.delete(job.id);
    if (job.idempotencyKey) this.#keys.delete(job.idempotencyKey);
  }

  async listDue(cutoff: string, limit: number): Promise<string[]> {
    return [...this.#jobs.values()]
      .filter((job) => job.sweepAt !== undefined && job.sweepAt < cutoff)
      .sort((a, b) => ((a.sweepAt as string) < (b.sweepAt as string) ? -1 : 1))
      .slice(0, limit)
      .map((job) => job.id);
  }

  /** Every job, as stored (copies). */
  all(): Job[] {
    return [...this.#jobs.values()].map((job) => structuredClone(job));
  }
}

function withoutUndefined(job: Job): Job {
  return Object.fromEntries(Object.entries(job).filter(([, value]) => value !== undefined)) as unknown as Job;
}
