import { randomUUID } from 'node:crypto';
import type { JobInput } from '../edit-request.ts';
import type { ValidationError } from '../errors.ts';
import { type JobDeps, writeContext } from './deps.ts';
import { ensureNotified } from './finish-job.ts';
import { iso, type Job } from './job.ts';
import { rejectedJob } from './lifecycle.ts';
import { ownerKeyOf } from './owner.ts';

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
  owner: string,
): Promise<Job> {
  const ctx = writeContext(deps);
  const record = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const kept = JSON.stringify(wellFormed(raw));
  const callerReference = typeof record.caller_reference === 'string' ? record.caller_reference : undefined;
  const job = rejectedJob(
    {
      id: randomUUID(),
      // Not a valid input: kept as sent (when small and storable) so the caller can see what was refused.
      input: (kept !== undefined && kept.length <= MAX_KEPT_REQUEST_CHARS
        ? JSON.parse(kept)
        : { truncated: (kept ?? '').slice(0, 1_000) }) as unknown as JobInput,
      callerReference: callerReference?.isWellFormed() ? callerReference.slice(0, 128) : undefined,
      owner,
      ownerKey: ownerKeyOf(owner),
      createdAt: iso(ctx.nowMs),
      updatedAt: iso(ctx.nowMs),
      deadlineAt: iso(ctx.nowMs),
      error: { code: 'INVALID_REQUEST', message: error.message, issues: error.issues },
      idempotencyKey: dedupeKey,
    },
    ctx,
  );
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

/**
 * The request with every string (and key) made storable: lone UTF-16 surrogates, which DynamoDB,
 * SNS and EventBridge refuse, become U+FFFD.
 */
function wellFormed(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.toWellFormed();
  if (value === null || typeof value !== 'object') return value;
  // A hostile request may nest deeply; what lies below is not worth keeping.
  if (depth >= MAX_KEPT_DEPTH) return '[nested too deeply]';
  if (Array.isArray(value)) return value.map((item) => wellFormed(item, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key.toWellFormed(), wellFormed(item, depth + 1)]),
  );
}

const MAX_KEPT_DEPTH = 16;
