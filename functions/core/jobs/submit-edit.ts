import { createHash, randomUUID } from 'node:crypto';
import type { JobInput } from '../edit-request.ts';
import { IdempotencyKeyReusedError, PipelineError, ValidationError } from '../errors.ts';
import { type AdmissionDeps, admitOnArrival, assertWithinSpendCap, nudgeDispatch } from './admission.ts';
import { checkEditRequest } from './check-edit.ts';
import { type JobDeps, writeContext } from './deps.ts';
import { iso, type Job } from './job.ts';
import { newJob } from './lifecycle.ts';
import { ownerKeyOf } from './owner.ts';

export interface SubmitEditRequest {
  /** The request body as received: validated here. */
  input: unknown;
  /** Who submits it (see `Caller`): recorded on the job; only they (and admins) see it. */
  owner: string;
  /**
   * A client-chosen key: the same key and body return the first job instead of paying twice.
   * Keys are the owner's own: another caller's key never finds this caller's job.
   */
  idempotencyKey?: string;
  /** The batch this job is a line of. */
  batch?: { id: string; line: number };
}

export interface SubmitEditResult {
  job: Job;
  /** False when an earlier request with the same idempotency key made the job. */
  created: boolean;
}

export class JobNotQueuedError extends PipelineError {
  override readonly name: string = 'JobNotQueuedError';
  constructor(cause: unknown) {
    // Exposed despite the 5xx: the caller needs to know that retrying is safe.
    super('SERVICE_UNAVAILABLE', 'the job could not be queued; nothing was recorded, retry the request', {
      status: 503,
      expose: true,
      cause,
    });
  }
}

/**
 * Accepts an edit: validates it, records the job and starts its poll chain, whose first
 * heartbeat submits it to RunComfy. From then on the chain owns the job: whatever happens, the
 * job reaches a terminal state. RunComfy is not called here, so an API caller's answer never
 * waits for (or fails with) RunComfy. If the first heartbeat cannot be queued, the job is removed
 * again and the caller gets a retryable 503 with nothing recorded.
 *
 * @example
 * const { job } = await submitEdit(deps, { input: { prompt: 'make it red', image_urls: [url] } });
 */
export async function submitEdit(
  deps: Pick<JobDeps, 'clock' | 'config' | 'log' | 'metrics' | 'store' | 'queues' | 'inputs' | 'admission'>,
  request: SubmitEditRequest,
): Promise<SubmitEditResult> {
  const ownerKey = ownerKeyOf(request.owner);
  const check = checkEditRequest(request.input, {
    policy: deps.inputs.policy,
    ownerKey,
    webhooks: Boolean(deps.queues.scheduleWebhook),
    allowLoopbackHttp: deps.config.allowLoopbackHttp,
  });
  if (!check.ok) throw new ValidationError('edit request is invalid', check.issues);
  const { input, caller } = check;
  const idempotencyKey = request.idempotencyKey ? hashKey(ownerKey, request.idempotencyKey) : undefined;
  const claim = idempotencyKey
    ? { key: idempotencyKey, fingerprint: fingerprint({ ...input, ...caller }) }
    : undefined;
  // A repeat (a client retrying) gets its first job before anything is taken for a new one: no
  // slot, place in line or heartbeat for a job that will not be made, and no spend cap either (it
  // is paid already). Two repeats at once both pass here; `create` then lets one key win.
  if (claim) {
    const earlier = await deps.store.findByIdempotencyKey(claim.key);
    if (earlier) return repeatOf(deps, earlier.jobId, earlier.fingerprint === claim.fingerprint);
  }
  await assertWithinSpendCap(deps);
  const id = randomUUID();
  // With admission control, the job takes a free slot, or else its place in line (its lane: batch
  // lines after edits).
  const lane = request.batch ? ('batch' as const) : ('interactive' as const);
  const admission = deps.admission
    ? (await admitOnArrival(deps as AdmissionDeps, id, lane))
      ? { lane, admitted: true as const }
      : { lane, seq: await deps.admission.nextSeq() }
    : undefined;
  const ctx = writeContext(deps);
  const job: Job = newJob(
    {
      id,
      input,
      owner: request.owner,
      ownerKey,
      ...(request.batch ? { batchId: request.batch.id, batchLine: request.batch.line } : {}),
      ...caller,
      createdAt: iso(ctx.nowMs),
      updatedAt: iso(ctx.nowMs),
      deadlineAt: iso(ctx.nowMs + deps.config.jobDeadlineSeconds * 1000),
      idempotencyKey,
    },
    ctx,
    admission,
  );
  // A slot taken for a job that is not made (an idempotent repeat) or not started goes back.
  const admitted = admission !== undefined && 'admitted' in admission;
  const giveSlotBack = async () => {
    if (admitted) await deps.admission?.release(id);
  };
  if (admitted) {
    // Its first heartbeat goes out before the job is recorded, as a dispatcher's goes out before
    // the admission: a crash in between leaves only a slot, which is reclaimed, never an admitted
    // job without a poll chain (the heartbeat waits for the job a little: `pollJob`).
    try {
      await deps.queues.schedulePoll({ jobId: id, seq: 0 }, 0);
    } catch (error) {
      deps.log.error('could not queue the first heartbeat; nothing recorded', { jobId: id, error });
      await giveSlotBack();
      throw new JobNotQueuedError(error);
    }
  }

  const created = await deps.store.create(job, claim).catch(async (error: unknown) => {
    await giveSlotBack().catch(() => undefined); // else a dispatcher reclaims it
    throw error;
  });
  if (!created.created) {
    await giveSlotBack();
    return repeatOf(deps, created.existingJobId, created.fingerprintMatches);
  }

  if (admitted) {
    deps.metrics.count('JobsAccepted');
    return { job, created: true };
  }
  if (admission) {
    // In line: a dispatcher admits it when a RunComfy slot is free (a lost nudge is only a delay:
    // every release and every sweep dispatches too).
    await nudgeDispatch(deps).catch((error: unknown) => {
      deps.log.warn('could not nudge the dispatchers; the job waits for the next release or sweep', {
        jobId: job.id,
        error,
      });
    });
    deps.metrics.count('JobsAccepted');
    return { job, created: true };
  }
  try {
    await deps.queues.schedulePoll({ jobId: job.id, seq: 0 }, 0);
  } catch (error) {
    deps.log.error('could not queue the first heartbeat; discarding the job', { jobId: job.id, error });
    await deps.store.discard(job);
    throw new JobNotQueuedError(error);
  }
  deps.metrics.count('JobsAccepted');
  return { job, created: true };
}

/** The answer to a repeat: the job the key made first, if the body is the same. */
async function repeatOf(
  deps: Pick<JobDeps, 'store'>,
  jobId: string,
  fingerprintMatches: boolean,
): Promise<SubmitEditResult> {
  if (!fingerprintMatches) throw new IdempotencyKeyReusedError();
  const existing = await deps.store.get(jobId);
  // The key was used, but the job it made is gone: it was discarded because it could not be queued.
  if (!existing) throw new JobNotQueuedError(new Error('idempotency record without its job'));
  return { job: existing, created: false };
}

/** Idempotency keys are stored hashed (they are the caller's, and may mean something to them), per owner. */
export function hashKey(ownerKey: string, key: string): string {
  return createHash('sha256').update(`${ownerKey}\n${key}`).digest('hex');
}

/** A canonical hash of the validated input: key order and defaults do not matter. */
export function fingerprint(request: (JobInput & Record<string, unknown>) | Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson(request)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
