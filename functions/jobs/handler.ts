import { createS3Client } from '#adapters/aws/clients';
import { S3OutputStore } from '#adapters/aws/s3-output-store';
import { S3Presigner } from '#adapters/aws/s3-presigner';
import { loadConfig } from '#contract/config';
import { NotFoundError, PipelineError } from '#core/errors';
import { jsonResponse } from '#core/http/problem';
import { readJsonBody } from '#core/http/request';
import { createUpload } from '#core/inputs/create-upload';
import { cancelJob } from '#core/jobs/cancel-job';
import type { Job } from '#core/jobs/job';
import { toJobView } from '#core/jobs/job-view';
import { resendWebhook } from '#core/webhooks/start-delivery';
import { makeHttpHandler } from '#shared/handler';
import { createJobDeps } from '#shared/job-deps';
import { logger } from '#shared/powertools';
import openApiDocument from '../../openapi.json' with { type: 'json' };

const config = loadConfig();
const s3 = createS3Client();
const presigner = new S3Presigner(s3);
const deps = {
  ...createJobDeps(config, 'jobs'),
  outputs: new S3OutputStore(s3, presigner, {
    bucket: config.outputBucket,
    prefix: config.outputPrefix,
    policy: { allowedHosts: [], maxBytes: 1, allowLoopbackHttp: false },
    log: logger,
  }),
};
const PRESIGNED_URL_SECONDS = 3600;
const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** `GET /edits/{id}`, `POST /edits/{id}/cancel`, `POST /edits/{id}/notifications/resend`, `POST /uploads`, `GET /openapi.json`. */
export const handler = makeHttpHandler(async (event, { log }) => {
  const jobId = event.pathParameters?.id ?? '';
  if (event.pathParameters?.id !== undefined && !JOB_ID.test(jobId)) {
    throw new NotFoundError('no job with this id');
  }
  switch (event.routeKey) {
    case 'GET /edits/{id}': {
      const job = await deps.store.get(jobId);
      if (!job) throw new NotFoundError(`no job with id ${jobId}`);
      return jsonResponse(200, toJobView(job, await presignOutputs(job)));
    }
    case 'GET /openapi.json':
      return jsonResponse(200, openApiDocument);
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
        ),
      );
    case 'POST /edits/{id}/cancel':
      return jsonResponse(200, toJobView(await cancelJob({ ...deps, log }, jobId)));
    case 'POST /edits/{id}/notifications/resend':
      return jsonResponse(202, toJobView(await resendWebhook({ ...deps, log }, jobId)));
    default:
      throw new PipelineError('ROUTE_NOT_FOUND', `no route ${event.routeKey}`, { status: 404 });
  }
});

/** Fresh short-lived GET URLs: the bucket stays private and nothing long-lived is handed out. */
function presignOutputs(job: Job): Promise<string[]> {
  return Promise.all(
    (job.outputs ?? []).map((output) => deps.outputs.presignGet(output, PRESIGNED_URL_SECONDS)),
  );
}
