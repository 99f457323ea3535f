import { createHash } from 'node:crypto';
import { createS3Client } from '#adapters/aws/s3-client';
import { S3OutputStore } from '#adapters/aws/s3-output-store';
import { S3Presigner } from '#adapters/aws/s3-presigner';
import { ConfigError, ENV, loadConfig } from '#contract/config';
import { requestBatchCancel } from '#core/batches/cancel-batch';
import { describeBatch, findOwnBatch } from '#core/batches/read-batch';
import { NotFoundError, PipelineError, ValidationError } from '#core/errors';
import { callerOf } from '#core/http/caller';
import { jsonResponse } from '#core/http/problem';
import { header, IdempotencyKeySchema, JobIdSchema, readJsonBody } from '#core/http/request';
import { createUpload } from '#core/inputs/create-upload';
import { linePosition } from '#core/jobs/admission';
import { cancelJob } from '#core/jobs/cancel-job';
import { deleteJob } from '#core/jobs/delete-job';
import type { Job } from '#core/jobs/job';
import { toJobView } from '#core/jobs/job-view';
import { listJobs } from '#core/jobs/list-jobs';
import { findOwnJob, ownerKeyOf } from '#core/jobs/owner';
import { resendWebhook } from '#core/webhooks/start-delivery';
import { BatchesDisabledError, createBatchDeps } from '#shared/batch-deps';
import { makeHttpHandler } from '#shared/handler';
import { createJobDeps } from '#shared/job-deps';
import { loadRunComfyClient } from '#shared/lazy-runcomfy';
import { logger } from '#shared/powertools';
import { secretValue } from '#shared/secrets';

const config = loadConfig();
const s3 = createS3Client();
const presigner = new S3Presigner(s3);
const deps = {
  ...createJobDeps(config, 'jobs', { presigner: async () => presigner, loadRunComfyClient }),
  outputs: new S3OutputStore(s3, presigner, {
    bucket: config.outputBucket,
    prefix: config.outputPrefix,
    policy: { allowedHosts: [], maxBytes: 1, allowLoopbackHttp: false },
    log: logger,
  }),
  cursorKey: cursorKey(),
};
const batchDeps = createBatchDeps(config, deps);
const PRESIGNED_URL_SECONDS = 3600;

/**
 * The job routes: `GET /edits`, `GET|DELETE /edits/{id}`, `POST /edits/{id}/cancel`,
 * `POST /edits/{id}/notifications/resend`, `POST /uploads`, `GET /openapi.json`; and the batch
 * routes: `POST /batches`, `GET /batches/{id}`, `POST /batches/{id}/cancel`. Every one acts on the
 * caller's own jobs and batches only (an admin's: all): another caller's answers 404, as an
 * unknown id.
 */
export const handler = makeHttpHandler(async (event, { log }) => {
  const caller = callerOf(event, config);
  const jobId = event.pathParameters?.id ?? '';
  if (event.pathParameters?.id !== undefined && !JobIdSchema.safeParse(jobId).success) {
    throw new NotFoundError(`no ${event.routeKey.includes('/batches') ? 'batch' : 'job'} with this id`);
  }
  if (event.routeKey.includes(' /batches')) return batchRoute(event, caller, log);
  const scoped = { ...deps, log };
  switch (event.routeKey) {
    case 'GET /edits':
      return jsonResponse(200, await listJobs(scoped, caller, event.queryStringParameters));
    case 'GET /edits/{id}': {
      const job = await findOwnJob(deps.store, caller, jobId);
      return jsonResponse(200, toJobView(job, await presignOutputs(job), await linePosition(deps, job)));
    }
    case 'DELETE /edits/{id}':
      await deleteJob(scoped, caller, jobId);
      return { statusCode: 204 };
    case 'POST /edits/{id}/cancel': {
      const job = await findOwnJob(deps.store, caller, jobId);
      const cancelled = await cancelJob(scoped, jobId, job);
      // 202: RunComfy could not be asked now; the job's poll chain asks again while it is queued.
      return jsonResponse(cancelled.status === 'cancelled' ? 200 : 202, toJobView(cancelled));
    }
    case 'POST /edits/{id}/notifications/resend':
      await findOwnJob(deps.store, caller, jobId);
      return jsonResponse(202, toJobView(await resendWebhook(scoped, jobId)));
    case 'POST /uploads':
      return jsonResponse(
        201,
        await createUpload(
          {
            presigner,
            bucket: config.outputBucket,
            prefix: config.uploadPrefix,
            now: () => deps.clock.now(),
          },
          readJsonBody(event),
          ownerKeyOf(caller.owner),
        ),
      );
    case 'GET /openapi.json':
      // Loaded on demand: 24 KB of JSON that no other route needs at cold start.
      return jsonResponse(200, (await import('../../openapi.json', { with: { type: 'json' } })).default);
    default:
      throw new PipelineError('ROUTE_NOT_FOUND', `no route ${event.routeKey}`, { status: 404 });
  }
});

/** `POST /batches`, `GET /batches/{id}`, `POST /batches/{id}/cancel`. */
async function batchRoute(
  event: Parameters<typeof handler>[0],
  caller: ReturnType<typeof callerOf>,
  log: typeof logger,
) {
  if (!batchDeps) throw new BatchesDisabledError();
  const scoped = { ...batchDeps, log };
  const id = event.pathParameters?.id ?? '';
  switch (event.routeKey) {
    case 'POST /batches': {
      const idempotencyKey = header(event, 'idempotency-key');
      if (idempotencyKey !== undefined && !IdempotencyKeySchema.safeParse(idempotencyKey).success) {
        throw new ValidationError('the Idempotency-Key header is invalid', [
          { path: 'headers/Idempotency-Key', message: 'must be 1–255 visible ASCII characters' },
        ]);
      }
      // Accepting a batch (its request schemas and validation) is a rare route: loaded by its first call.
      const { submitBatch } = await import('#core/batches/submit-batch');
      const { batch, created } = await submitBatch(scoped, {
        body: readJsonBody(event),
        owner: caller.owner,
        idempotencyKey,
      });
      log.info(created ? 'batch accepted' : 'idempotent replay', { batchId: batch.id });
      return jsonResponse(202, await describeBatch(scoped, batch), {
        location: `/batches/${batch.id}`,
        ...(created ? {} : { 'idempotent-replayed': 'true' }),
      });
    }
    case 'GET /batches/{id}':
      return jsonResponse(200, await describeBatch(scoped, await findOwnBatch(scoped, caller, id)));
    case 'POST /batches/{id}/cancel':
      return jsonResponse(202, await describeBatch(scoped, await requestBatchCancel(scoped, caller, id)));
    default:
      throw new PipelineError('ROUTE_NOT_FOUND', `no route ${event.routeKey}`, { status: 404 });
  }
}

/** Fresh short-lived GET URLs: the bucket stays private and nothing long-lived is handed out. */
function presignOutputs(job: Job): Promise<string[]> {
  return Promise.all(
    (job.outputs ?? []).map((output) => deps.outputs.presignGet(output, PRESIGNED_URL_SECONDS)),
  );
}

/** The key list cursors are signed with: from Secrets Manager in AWS, the local runtime's value locally. */
function cursorKey(): () => Promise<Buffer> {
  const derive = (value: string) => createHash('sha256').update(`list-cursor\n${value}`).digest();
  if (config.listCursorSecret) {
    const key = derive(config.listCursorSecret);
    return async () => key;
  }
  const secretArn = config.listCursorSecretArn;
  if (!secretArn)
    throw new ConfigError(`set ${ENV.listCursorSecretArn} (in AWS) or ${ENV.listCursorSecret} (locally)`);
  return async () => {
    const value = await secretValue(secretArn);
    if (typeof value !== 'string' || value.length < 32)
      throw new ConfigError('the list cursor secret is too short');
    return derive(value);
  };
}
