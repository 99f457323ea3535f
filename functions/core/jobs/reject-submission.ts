import { randomUUID } from 'node:crypto';
import type { JobInput } from '../edit-request.ts';
import type { ValidationError } from '../errors.ts';
import type { JobDeps } from './deps.ts';
import { ensureNotified } from './finish-job.ts';
import { iso, type Job } from './job.ts';

/** Kept of an invalid request: enough to recognise it, bounded so a huge body cannot bloat the table. */
const MAX_KEPT_REQUEST_CHARS = 8_000;

/**
 * Records a queued or event submission that failed validation as a `failed` job and sends its
 * completion event, so that it is never dropped silently; the message itself is then
 * acknowledged, since retrying an invalid request cannot make it valid. (HTTP callers get a 400
 * instead and no job.) `dedupeKey` (the SQS message id or EventBridge event id) makes a
 * redelivery of the same message find the same job.
 */
export async function rejectSubmission(
  deps: JobDeps,
  raw: unknown,
  error: ValidationError,
  dedupeKey: string,
): Promise<Job> {
  const nowMs = deps.clock.now();
  const record = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const kept = JSON.stringify(raw) ?? 'null';
  const job: Job = {
    id: randomUUID(),
    status: 'failed',
    // Not a valid input: kept as sent (when small) so that the caller can see what was refused.
    input: (kept.length <= MAX_KEPT_REQUEST_CHARS
      ? record
      : { truncated: kept.slice(0, 1_000) }) as unknown as JobInput,
    callerReference:
      typeof record.caller_reference === 'string' ? record.caller_reference.slice(0, 128) : undefined,
    createdAt: iso(nowMs),
    updatedAt: iso(nowMs),
    deadlineAt: iso(nowMs),
    finishedAt: iso(nowMs),
    submitAttempts: 0,
    pollCount: 0,
    error: { code: 'INVALID_REQUEST', message: error.message, issues: error.issues },
    idempotencyKey: dedupeKey,
  };
  const created = await deps.store.create(job, { key: dedupeKey, fingerprint: 'rejected' });
  const stored = created.created ? job : await deps.store.get(created.existingJobId);
  if (!stored) return job;
  if (created.created) {
    deps.log.warn('submission rejected', { jobId: job.id, issues: error.issues });
    deps.metrics.count('JobsRejected');
  }
  await ensureNotified(deps, stored);
  return stored;
}
