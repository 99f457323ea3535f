import type { ListQuery } from '../ports.ts';
import type { Job } from './job.ts';

/** A job's place in every list: by creation, the id breaking ties. Cursors carry the last one seen. */
export const listPosition = (job: Pick<Job, 'createdAt' | 'id'>) => `${job.createdAt}#${job.id}`;

/** Whether a job passes a list query's filters (a store applies what its index did not). */
export function matchesQuery(job: Job, query: ListQuery): boolean {
  if (query.ownerKey && job.ownerKey !== query.ownerKey) return false;
  if (query.statuses?.length && !query.statuses.includes(job.status)) return false;
  if (query.callerReference && job.callerReference !== query.callerReference) return false;
  if (query.batchId && job.batchId !== query.batchId) return false;
  if (query.createdAfter && job.createdAt < query.createdAfter) return false;
  if (query.createdBefore && job.createdAt >= query.createdBefore) return false;
  return true;
}
