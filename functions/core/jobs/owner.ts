import { createHash } from 'node:crypto';
import { NotFoundError } from '../errors.ts';
import type { JobStore } from '../ports.ts';
import type { Job } from './job.ts';

/**
 * Who is asking: the owner id the API and the integrations record on a job (`jwt:<iss>|<sub>`,
 * `iam:<principal ARN>`, `integration:<source>`, `local`), and whether it may act on every job.
 */
export interface Caller {
  owner: string;
  admin: boolean;
}

/** The owner as index keys and S3 prefixes carry it: a hash, never the identity in clear. */
export function ownerKeyOf(owner: string): string {
  return createHash('sha256').update(owner).digest('hex').slice(0, 32);
}

export function canAccess(caller: Caller, job: Pick<Job, 'owner'>): boolean {
  return caller.admin || job.owner === caller.owner;
}

/**
 * The job, if the caller may see it. Another caller's job answers exactly as an unknown id does
 * (same read, same error), so ids leak nothing about other callers' jobs.
 */
export async function findOwnJob(store: Pick<JobStore, 'get'>, caller: Caller, id: string): Promise<Job> {
  const job = await store.get(id);
  if (!job || !canAccess(caller, job)) throw new NotFoundError(`no job with id ${id}`);
  return job;
}

/** An owner id as an integration may name it: one of the kinds the API records. */
const OWNER_ID = /^(?:local|(?:jwt|iam|integration):[^\p{Cc}]{1,500})$/u;

/**
 * Splits a trusted (event-driven) request into its edit request and the owner it names; without
 * a valid `owner` field, the integration itself owns the job. An invalid `owner` is left in the
 * request, where validation refuses it as an unknown key with its path.
 */
export function trustedOwner(request: unknown, integration: string): { owner: string; input: unknown } {
  if (typeof request !== 'object' || request === null || Array.isArray(request) || !('owner' in request)) {
    return { owner: integration, input: request };
  }
  const { owner, ...input } = request as Record<string, unknown>;
  if (typeof owner === 'string' && owner.isWellFormed() && OWNER_ID.test(owner)) return { owner, input };
  return { owner: integration, input: request };
}
