import { type Clock, systemClock } from '#core/clock';
import { holds } from '#core/jobs/conditions';
import { isTerminal, type Job } from '#core/jobs/job';
import type { JobWrite } from '#core/jobs/lifecycle';
import { listPosition, matchesQuery } from '#core/jobs/list-position';
import type { CreateResult, IdempotencyClaim, JobRecord, JobStore, ListPage, ListQuery } from '#core/ports';

/**
 * The job store in memory, with DynamoDB's semantics where the core relies on them: every write
 * is atomic and conditional (the lifecycle's conditions, evaluated on the stored record), reads
 * are strongly consistent, and callers get copies, never the stored object. Used by the fast tests
 * that race the core's actors against each other.
 */
export class MemoryJobStore implements JobStore {
  readonly #jobs = new Map<string, Job>();
  readonly #keys = new Map<string, { jobId: string; fingerprint: string }>();
  readonly #tombstones = new Map<string, { ownerKey: string; deletedAt: string }>();

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

  async findByIdempotencyKey(key: string): Promise<{ jobId: string; fingerprint: string } | undefined> {
    const record = this.#keys.get(key);
    return record ? { ...record } : undefined;
  }

  async get(id: string): Promise<Job | undefined> {
    const job = this.#jobs.get(id);
    return job ? structuredClone(job) : undefined;
  }

  async getMany(ids: readonly string[]): Promise<Map<string, Job | undefined>> {
    return new Map(await Promise.all(ids.map(async (id) => [id, await this.get(id)] as const)));
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

  async list(query: ListQuery): Promise<ListPage> {
    const descending = query.order === 'desc';
    const candidates = [...this.#jobs.values()]
      .filter((job) => matchesQuery(job, query))
      .map((job) => ({ job, position: listPosition(job) }))
      .filter(
        ({ position }) => !query.after || (descending ? position < query.after : position > query.after),
      )
      .sort((a, b) => (a.position < b.position ? -1 : 1) * (descending ? -1 : 1));
    const page = candidates.slice(0, query.limit);
    const more = candidates.length > query.limit;
    return {
      jobs: page.map(({ job }) => structuredClone(job)),
      ...(more ? { next: page.at(-1)?.position } : {}),
    };
  }

  async delete(job: Job, deletedAt: string): Promise<boolean> {
    const stored = this.#jobs.get(job.id);
    if (!stored || !isTerminal(stored.status)) return false;
    this.#jobs.delete(job.id);
    this.#tombstones.set(job.id, { ownerKey: stored.ownerKey ?? '', deletedAt });
    if (stored.idempotencyKey) this.#keys.delete(stored.idempotencyKey);
    return true;
  }

  async lookup(id: string): Promise<JobRecord | undefined> {
    const job = this.#jobs.get(id);
    if (job) return { job: structuredClone(job) };
    const tombstone = this.#tombstones.get(id);
    return tombstone ? { deleted: { ownerKey: tombstone.ownerKey } } : undefined;
  }

  /** Every job, as stored (copies). */
  all(): Job[] {
    return [...this.#jobs.values()].map((job) => structuredClone(job));
  }
}

function withoutUndefined(job: Job): Job {
  return Object.fromEntries(Object.entries(job).filter(([, value]) => value !== undefined)) as unknown as Job;
}
