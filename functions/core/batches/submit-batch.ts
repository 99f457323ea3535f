import { randomUUID } from 'node:crypto';
import * as z from 'zod/mini';
import { S3_URI } from '../edit-request.ts';
import { IdempotencyKeyReusedError, PipelineError, ValidationError } from '../errors.ts';
import { assertWithinSpendCap } from '../jobs/admission.ts';
import { writeContext } from '../jobs/deps.ts';
import { iso } from '../jobs/job.ts';
import { ownerKeyOf } from '../jobs/owner.ts';
import { fingerprint, hashKey } from '../jobs/submit-edit.ts';
import { parseOrThrow } from '../validation.ts';
import { BATCH_LIMITS, type Batch, type BatchLineIssue, batchFileKey } from './batch.ts';
import { BATCH_STALL_MS, type BatchDeps } from './deps.ts';
import { checkInlineRequests } from './lines.ts';

/**
 * `POST /batches`: the edit requests themselves (`requests`, up to 1,000), or a JSONL manifest
 * the caller uploaded (`manifest`: its `s3://` URI from `POST /uploads`, up to 50,000 lines);
 * and what to do with bad lines (`on_invalid`: refuse the batch, or skip them).
 */
export const BatchRequestSchema = z.strictObject({
  requests: z.optional(
    z
      .array(z.unknown(), 'must be an array of edit requests')
      .check(
        z.minLength(1, 'needs at least 1 edit request'),
        z.maxLength(
          BATCH_LIMITS.inlineRequests,
          `allows at most ${BATCH_LIMITS.inlineRequests} edit requests (upload a manifest for more)`,
        ),
      ),
  ),
  manifest: z.optional(z.string('must be a string').check(z.minLength(1), z.maxLength(1_100))),
  on_invalid: z._default(z.enum(['refuse', 'skip'], 'must be refuse or skip'), 'refuse'),
});
export type BatchRequest = z.infer<typeof BatchRequestSchema>;

export class BatchInvalidError extends ValidationError {
  override readonly name: string = 'BatchInvalidError';
  constructor(issues: BatchLineIssue[], lines: number) {
    super(
      `${lines} of the batch's edit requests are invalid; fix them, or send on_invalid=skip to leave them out`,
      issues.slice(0, MAX_REPORTED_ISSUES),
    );
  }
}

/** Issues a refusal lists at most (a batch of 1,000 bad lines would otherwise answer megabytes). */
const MAX_REPORTED_ISSUES = 1_000;

export class BatchNotQueuedError extends PipelineError {
  override readonly name: string = 'BatchNotQueuedError';
  constructor(cause: unknown) {
    super('SERVICE_UNAVAILABLE', 'the batch could not be queued; nothing was recorded, retry the request', {
      status: 503,
      expose: true,
      cause,
    });
  }
}

export interface SubmitBatchRequest {
  body: unknown;
  owner: string;
  /** The same key and body return the first batch instead of a second one. */
  idempotencyKey?: string;
}

/**
 * Accepts a batch: checks it (inline lines here, each with its line and path; a manifest only
 * for where it is — its 50,000 lines are checked by the batch function, never inside an API call),
 * records it, and queues its validation, which then fans its lines out in chunks through the
 * batch queue. If the validation cannot be queued, the batch is removed again (a retryable 503).
 *
 * @example
 * const { batch } = await submitBatch(deps, { body: { requests: [edit1, edit2] }, owner: 'local' });
 */
export async function submitBatch(
  deps: Pick<BatchDeps, 'batches' | 'files' | 'queues' | 'inputs' | 'config' | 'clock' | 'log' | 'admission'>,
  request: SubmitBatchRequest,
): Promise<{ batch: Batch; created: boolean }> {
  const body = parseOrThrow(BatchRequestSchema, request.body, 'batch request');
  if ((body.requests === undefined) === (body.manifest === undefined)) {
    throw new ValidationError('batch request is invalid', [
      { path: '(root)', message: 'give exactly one of requests and manifest' },
    ]);
  }
  const ownerKey = ownerKeyOf(request.owner);
  const checks = {
    policy: deps.inputs.policy,
    ownerKey,
    webhooks: Boolean(deps.queues.scheduleWebhook),
    allowLoopbackHttp: deps.config.allowLoopbackHttp,
  };
  const manifest =
    body.manifest === undefined ? undefined : manifestLocation(deps.config, body.manifest, ownerKey);
  if (body.requests && body.on_invalid === 'refuse') {
    const issues = checkInlineRequests(body.requests, checks);
    if (issues.length > 0)
      throw new BatchInvalidError(issues, new Set(issues.map((issue) => issue.line)).size);
  }
  await assertWithinSpendCap(deps);

  const now = writeContext(deps).nowMs;
  const batch: Batch = {
    id: randomUUID(),
    status: 'validating',
    owner: request.owner,
    ownerKey,
    source: manifest ? 'manifest' : 'inline',
    ...(manifest ? { manifestUri: `s3://${manifest.bucket}/${manifest.key}` } : {}),
    onInvalid: body.on_invalid,
    createdAt: iso(now),
    updatedAt: iso(now),
    ...(request.idempotencyKey
      ? { idempotencyKey: hashKey(ownerKey, `batch\n${request.idempotencyKey}`) }
      : {}),
    created: 0,
    // Should the validation's message be lost, the sweeper queues it again.
    sweepAt: iso(now + BATCH_STALL_MS),
  };
  const created = await deps.batches.create(
    batch,
    batch.idempotencyKey ? { key: batch.idempotencyKey, fingerprint: fingerprint(body) } : undefined,
  );
  if (!created.created) {
    if (!created.fingerprintMatches) {
      throw new IdempotencyKeyReusedError();
    }
    const existing = await deps.batches.get(created.existingBatchId);
    if (!existing) throw new BatchNotQueuedError(new Error('idempotency record without its batch'));
    return { batch: existing, created: false };
  }

  try {
    if (body.requests) {
      // The batch's own copy of its lines, as a manifest would be: the batch function reads them from there.
      const text = body.requests.map((line) => JSON.stringify(line)).join('\n');
      await deps.files.put(batchFileKey(deps.config.outputPrefix, batch.id, 'lines.jsonl'), `${text}\n`);
    }
    await deps.queues.scheduleBatch([{ batchId: batch.id, step: 'validate' }]);
  } catch (error) {
    deps.log.error('could not queue the batch; discarding it', { batchId: batch.id, error });
    await deps.batches.discard(batch);
    throw new BatchNotQueuedError(error);
  }
  return { batch, created: true };
}

/**
 * Where a manifest may be: one of the caller's own uploads in the stack's bucket (`POST /uploads`
 * puts them under `<upload prefix><owner key>/`), named by its `s3://` URI or by its key.
 */
function manifestLocation(
  config: BatchDeps['config'],
  manifest: string,
  ownerKey: string,
): { bucket: string; key: string } {
  const match = S3_URI.exec(manifest);
  const bucket = match ? match[1] : config.outputBucket;
  const key = match ? (match[2] ?? '') : manifest;
  if (
    bucket !== config.outputBucket ||
    !key.startsWith(`${config.uploadPrefix}${ownerKey}/`) ||
    key.includes('..')
  ) {
    throw new ValidationError('batch request is invalid', [
      { path: 'manifest', message: 'must be one of your uploads (the s3_uri POST /uploads answered)' },
    ]);
  }
  return { bucket, key };
}
