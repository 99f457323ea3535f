import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { ValidationError } from '#core/errors';
import { jsonResponse, problemResponse } from '#core/http/problem';
import { header, readJsonBody } from '#core/http/request';
import { toJobView } from '#core/jobs/job-view';
import { submitEdit } from '#core/jobs/submit-edit';
import { createJobDeps } from '#shared/job-deps';
import { logger, metrics } from '#shared/powertools';

const deps = createJobDeps();
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** `POST /edits` → validate, record, submit upstream, answer 202 with the job. */
export const handler = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
  const log = logger.createChild({ persistentKeys: { requestId: event.requestContext?.requestId } });
  try {
    const idempotencyKey = header(event, 'idempotency-key');
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw new ValidationError('the Idempotency-Key header is invalid', [
        { path: 'headers/Idempotency-Key', message: 'must be 1–255 visible ASCII characters' },
      ]);
    }
    const { job, created } = await submitEdit(
      { ...deps, log },
      { input: readJsonBody(event), idempotencyKey },
    );
    log.info(created ? 'job accepted' : 'idempotent replay', { jobId: job.id, status: job.status });
    return jsonResponse(202, toJobView(job), {
      location: `/edits/${job.id}`,
      ...(created ? {} : { 'idempotent-replayed': 'true' }),
    });
  } catch (error) {
    return problemResponse(error, event.rawPath ?? '/edits', log);
  } finally {
    metrics.publishStoredMetrics();
  }
};
