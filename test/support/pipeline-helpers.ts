import { createHash } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { JobView } from '#core/jobs/job-view';
import type { LocalPipeline } from '../../local/pipeline.ts';

export const PNG_INPUT = 'https://inputs.example.com/cup.png';

export async function postEdit(
  pipeline: LocalPipeline,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(`${pipeline.apiUrl}/edits`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

export async function getJob(pipeline: LocalPipeline, id: string): Promise<JobView> {
  const response = await fetch(`${pipeline.apiUrl}/edits/${id}`);
  if (response.status !== 200) throw new Error(`GET /edits/${id} answered ${response.status}`);
  return (await response.json()) as JobView;
}

export async function cancel(pipeline: LocalPipeline, id: string) {
  const response = await fetch(`${pipeline.apiUrl}/edits/${id}/cancel`, { method: 'POST' });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Polls the HTTP API until the job reaches one of `statuses` (the test timeout bounds it). */
export async function waitForJob(
  pipeline: LocalPipeline,
  id: string,
  statuses: readonly string[] = ['succeeded', 'failed', 'cancelled', 'expired'],
  timeoutMs = 25_000,
): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await getJob(pipeline, id);
    if (statuses.includes(job.status)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Waits until `predicate` holds for the job as stored (e.g. the simulator has its request id). */
export async function waitUntil<T>(probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function s3Bytes(pipeline: LocalPipeline, bucket: string, key: string): Promise<Buffer> {
  const object = await pipeline.clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Keeps every notification the observer queues received, since receiving deletes them: tests
 * look for their own job's messages among all of them.
 */
export class NotificationLog {
  readonly sns: { Message: string; MessageAttributes?: Record<string, { Value: string }> }[] = [];
  readonly events: { 'detail-type': string; detail: { event_id: string; job?: JobView; job_id?: string } }[] =
    [];

  constructor(private readonly pipeline: LocalPipeline) {}

  async collect(timeoutMs = 1_000): Promise<void> {
    const [sns, events] = await Promise.all([
      this.pipeline.receiveObserved('sns', { min: 1_000, timeoutMs }),
      this.pipeline.receiveObserved('events', { min: 1_000, timeoutMs }),
    ]);
    this.sns.push(...(sns as unknown as NotificationLog['sns']));
    this.events.push(...(events as unknown as NotificationLog['events']));
  }

  snsFor(jobId: string) {
    return this.sns
      .map((envelope) => ({ attributes: envelope.MessageAttributes, body: JSON.parse(envelope.Message) }))
      .filter((message) => message.body.job?.id === jobId);
  }

  eventsFor(jobId: string, detailType?: string) {
    return this.events.filter(
      (event) =>
        (event.detail.job?.id === jobId || event.detail.job_id === jobId) &&
        (detailType === undefined || event['detail-type'] === detailType),
    );
  }

  /** Waits until the job's completion arrived on both SNS and EventBridge, then lets stragglers in. */
  async completionOf(jobId: string, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    while (this.snsFor(jobId).length === 0 || this.eventsFor(jobId, 'Edit Job Completed').length === 0) {
      if (Date.now() > deadline) throw new Error(`no completion notification for job ${jobId}`);
      await this.collect(500);
    }
    await this.collect(500);
    return { sns: this.snsFor(jobId), events: this.eventsFor(jobId, 'Edit Job Completed') };
  }
}
