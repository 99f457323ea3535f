import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { BatchView } from '#core/batches/batch-view';
import type { ResultRow } from '#core/batches/complete-batch';
import type { JobView } from '#core/jobs/job-view';
import type { LocalPipeline, LocalQueueUrls } from '../../local/pipeline.ts';
import { type NotificationLog, PNG_INPUT, s3Bytes } from './pipeline-helpers.ts';

export interface Answer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/** One call of the local HTTP API, its JSON answer parsed. */
export async function callApi<T = Record<string, unknown>>(
  pipeline: LocalPipeline,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer<T>> {
  const response = await fetch(`${pipeline.apiUrl}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : {}) as T };
}

/** An edit request for line `n` of a batch. */
export const editLine = (n: number, extra: Record<string, unknown> = {}) => ({
  prompt: `batch edit ${n}`,
  image_urls: [PNG_INPUT],
  caller_reference: `sku-${n}`,
  ...extra,
});

/** Uploads `text` as a manifest through `POST /uploads` (as the caller `headers` name); its `s3://` URI. */
export async function uploadManifest(
  pipeline: LocalPipeline,
  text: string,
  headers: Record<string, string> = {},
): Promise<string> {
  const bytes = Buffer.from(text);
  const ticket = await callApi<{ upload_url: string; headers: Record<string, string>; s3_uri: string }>(
    pipeline,
    'POST',
    '/uploads',
    { content_type: 'application/x-ndjson', size_bytes: bytes.length, filename: 'edits.jsonl' },
    headers,
  );
  if (ticket.status !== 201) throw new Error(`POST /uploads answered ${ticket.status}`);
  const put = await fetch(ticket.body.upload_url, {
    method: 'PUT',
    headers: ticket.body.headers,
    body: bytes,
  });
  if (!put.ok) throw new Error(`the upload PUT answered ${put.status}`);
  return ticket.body.s3_uri;
}

/** Polls `GET /batches/{id}` until the batch is in one of `statuses`; `seen` gets every answer. */
export async function waitForBatch(
  pipeline: LocalPipeline,
  id: string,
  statuses: readonly string[] = ['completed', 'refused'],
  options: { timeoutMs?: number; seen?: (batch: BatchView) => void; headers?: Record<string, string> } = {},
): Promise<BatchView> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    const { status, body } = await callApi<BatchView>(
      pipeline,
      'GET',
      `/batches/${id}`,
      undefined,
      options.headers,
    );
    if (status !== 200) throw new Error(`GET /batches/${id} answered ${status}`);
    options.seen?.(body);
    if (statuses.includes(body.status)) return body;
    if (Date.now() > deadline)
      throw new Error(`batch ${id} still ${body.status} (${JSON.stringify(body.counts)})`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The rows of a completed batch's results manifest, read from the bucket. */
export async function readResults(pipeline: LocalPipeline, batch: BatchView): Promise<ResultRow[]> {
  const uri = batch.results?.s3_uri ?? '';
  const [, bucket = '', key = ''] = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri) ?? [];
  const text = (await s3Bytes(pipeline, bucket, key)).toString('utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as ResultRow);
}

/** Messages in one of the runtime's queues: visible, being handled, and delayed. */
export async function queueDepth(pipeline: LocalPipeline, queue: keyof LocalQueueUrls): Promise<number> {
  const { Attributes = {} } = await pipeline.clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: pipeline.queues[queue],
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return Object.values(Attributes).reduce((sum, count) => sum + Number(count), 0);
}

/** The batch's jobs (up to 1,000), in line order. */
export async function batchJobsOf(pipeline: LocalPipeline, batchId: string): Promise<JobView[]> {
  const path = `/edits?batch_id=${batchId}&limit=1000&sort=asc`;
  const { items } = (await callApi<{ items: JobView[] }>(pipeline, 'GET', path)).body;
  // A listing is in creation order, and a batch's lines are created concurrently
  return items.toSorted((a, b) => (a.batch_line ?? 0) - (b.batch_line ?? 0));
}

/**
 * The batch's completion notifications, on EventBridge and on SNS: received until both arrived
 * (the observer queues may hold a backlog of every job's events before them) or `timeoutMs`
 * passed, then once more for stragglers (a duplicate would be among them).
 */
export async function batchCompletionsOf(
  notifications: NotificationLog,
  batchId: string,
  timeoutMs = 30_000,
) {
  const find = () => ({
    events: notifications.events.filter(
      (event) =>
        event['detail-type'] === 'Edit Batch Completed' &&
        (event.detail as unknown as { batch_id?: string }).batch_id === batchId,
    ),
    sns: notifications.sns.filter(
      (message) => (JSON.parse(message.Message) as { batch_id?: string }).batch_id === batchId,
    ),
  });
  const deadline = Date.now() + timeoutMs;
  let found = find();
  while ((found.events.length === 0 || found.sns.length === 0) && Date.now() < deadline) {
    await notifications.collect(1_000);
    found = find();
  }
  await notifications.collect(1_000);
  return find();
}
