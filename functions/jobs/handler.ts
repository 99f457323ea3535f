import { GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createS3Client } from '#core/aws-clients';
import { loadConfig } from '#core/config';
import { NotFoundError, PipelineError } from '#core/errors';
import { jsonResponse, problemResponse } from '#core/http/problem';
import { readJsonBody } from '#core/http/request';
import { createUpload } from '#core/inputs/create-upload';
import { cancelJob } from '#core/jobs/cancel-job';
import type { Job } from '#core/jobs/job';
import { toJobView } from '#core/jobs/job-view';
import { resendWebhook } from '#core/webhooks/start-delivery';
import { createJobDeps } from '#shared/job-deps';
import { logger, publishMetrics } from '#shared/powertools';
import openApiDocument from '../../openapi.json' with { type: 'json' };

const config = loadConfig();
const deps = createJobDeps(config);
const s3 = createS3Client();
const PRESIGNED_URL_SECONDS = 3600;

/** `GET /edits/{id}`, `POST /edits/{id}/cancel`, `POST /edits/{id}/notifications/resend` and `POST /uploads`. */
export const handler = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
  const jobId = event.pathParameters?.id ?? '';
  const log = logger.createChild({ persistentKeys: { jobId, requestId: event.requestContext?.requestId } });
  try {
    if (event.pathParameters?.id !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(jobId)) {
      throw new NotFoundError(`no job with id ${jobId.slice(0, 64)}`);
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
            { s3, bucket: config.outputBucket, prefix: config.uploadPrefix, now: Date.now },
            readJsonBody(event),
          ),
        );
      case 'POST /edits/{id}/cancel': {
        const job = await cancelJob({ ...deps, log }, jobId);
        return jsonResponse(200, toJobView(job));
      }
      case 'POST /edits/{id}/notifications/resend': {
        const job = await resendWebhook({ ...deps, log }, jobId);
        return jsonResponse(202, toJobView(job));
      }
      default:
        throw new PipelineError('ROUTE_NOT_FOUND', `no route ${event.routeKey}`, { status: 404 });
    }
  } catch (error) {
    return problemResponse(error, event.rawPath ?? '', log);
  } finally {
    publishMetrics();
  }
};

/** Fresh short-lived GET URLs: the bucket stays private and nothing long-lived is handed out. */
function presignOutputs(job: Job): Promise<string[]> {
  return Promise.all(
    (job.outputs ?? []).map((output) =>
      getSignedUrl(s3, new GetObjectCommand({ Bucket: output.bucket, Key: output.key }), {
        expiresIn: PRESIGNED_URL_SECONDS,
      }),
    ),
  );
}
