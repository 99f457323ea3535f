import { createHash, randomUUID } from 'node:crypto';
import { EditRequestSchema, type JobInput, splitRequest } from '../edit-request.ts';
import { ConflictError, PipelineError, ValidationError } from '../errors.ts';
import { checkS3Inputs } from '../inputs/s3-inputs.ts';
import { parseOrThrow } from '../validation.ts';
import { checkWebhookUrl } from '../webhooks/url-policy.ts';
import type { JobDeps } from './deps.ts';
import { iso, type Job } from './job.ts';
import { FIRST_POLL_DELAY_SECONDS } from './poll-schedule.ts';
import { submitUpstream } from './submit-upstream.ts';

export interface SubmitEditRequest {
  /** The request body as received: validated here. */
  input: unknown;
  /** A client-chosen key: the same key and body return the first job instead of paying twice. */
  idempotencyKey?: string;
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
 * Accepts an edit: validates it, records the job, starts its poll chain and submits it to
 * RunComfy. The poll message goes out *before* the upstream submission, so from then on the
 * chain owns the job: whatever happens to this request, the job reaches a terminal state.
 * If the poll message cannot be sent, the job is removed again and the caller gets a
 * retryable 503 with nothing recorded.
 *
 * @example
 * const { job } = await submitEdit(deps, { input: { prompt: 'make it red', image_urls: [url] } });
 */
export async function submitEdit(deps: JobDeps, request: SubmitEditRequest): Promise<SubmitEditResult> {
  const { input, caller } = splitRequest(parseOrThrow(EditRequestSchema, request.input, 'edit request'));
  const issues = [
    ...checkS3Inputs(input.image_urls, deps.inputs.policy),
    ...(caller.webhookUrl && !deps.webhooks
      ? [{ path: 'webhook_url', message: 'webhooks are not enabled on this deployment' }]
      : checkWebhookUrl(caller.webhookUrl, deps.config)),
  ];
  if (issues.length > 0) throw new ValidationError('edit request is invalid', issues);
  const nowMs = deps.clock.now();
  const job: Job = {
    id: randomUUID(),
    status: 'queued',
    input,
    ...caller,
    createdAt: iso(nowMs),
    updatedAt: iso(nowMs),
    deadlineAt: iso(nowMs + deps.config.jobDeadlineSeconds * 1000),
    submitAttempts: 0,
    pollCount: 0,
    idempotencyKey: request.idempotencyKey ? hashKey(request.idempotencyKey) : undefined,
  };

  const created = await deps.store.create(
    job,
    job.idempotencyKey
      ? { key: job.idempotencyKey, fingerprint: fingerprint({ ...input, ...caller }) }
      : undefined,
  );
  if (!created.created) {
    if (!created.fingerprintMatches) {
      throw new ConflictError(
        'IDEMPOTENCY_KEY_REUSED',
        'this Idempotency-Key was already used with a different request body',
        422,
      );
    }
    const existing = await deps.store.get(created.existingJobId);
    // The key was used, but the job it made is gone: it was discarded because it could not be queued.
    if (!existing) throw new JobNotQueuedError(new Error('idempotency record without its job'));
    return { job: existing, created: false };
  }

  try {
    await deps.queues.schedulePoll({ jobId: job.id, seq: 0 }, FIRST_POLL_DELAY_SECONDS);
  } catch (error) {
    deps.log.error('could not queue the first poll; discarding the job', { jobId: job.id, error });
    await deps.store.discard(job);
    throw new JobNotQueuedError(error);
  }
  deps.metrics.count('JobsAccepted');

  try {
    const outcome = await submitUpstream(deps, job);
    return { job: outcome.job ?? job, created: true };
  } catch (error) {
    // The job is recorded and its poll chain runs: answering 5xx now would only invite a
    // retry that makes a second job. The chain resolves whatever this failure left behind.
    deps.log.error('upstream submission did not complete; the poll chain takes over', {
      jobId: job.id,
      error,
    });
    return { job: (await deps.store.get(job.id).catch(() => undefined)) ?? job, created: true };
  }
}

/** Idempotency keys are stored hashed: they are the caller's, and may be meaningful to them. */
function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A canonical hash of the validated input: key order and defaults do not matter. */
export function fingerprint(request: JobInput & Record<string, unknown>): string {
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
