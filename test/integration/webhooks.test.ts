import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView } from '#core/jobs/job-view';
import { completionEvent } from '#core/notify/event-builders';
import { generateSigningSecret } from '#core/webhooks/sign';
import { verifyWebhook, WebhookVerificationError } from '#core/webhooks/verify';
import { EVENTS } from '../../contract/index.ts';
import { type LocalPipeline, startLocalPipeline } from '../../local/pipeline.ts';
import { closeServer, listenOnLoopback } from '../support/loopback-server.ts';
import {
  getJob,
  NotificationLog,
  PNG_INPUT,
  postEdit,
  waitForJob,
  waitUntil,
} from '../support/pipeline-helpers.ts';

const SECRET = generateSigningSecret();
/** Short retry steps and window, so retries and giving up happen within a test. */
const RETRY_WINDOW_SECONDS = 6;

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** What `verifyWebhook` made of it: the payload, or the refusal's code. */
  verified: { id: string; payload: unknown } | { refused: string };
}

/**
 * A webhook receiver on loopback that verifies each delivery as a real one would. Its answer
 * depends on the path: `/ok/*` 204, `/flaky/*` 503 to the first two deliveries then 200,
 * `/down/*` always 500.
 */
class Receiver {
  readonly received: Received[] = [];
  #server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      const body = Buffer.concat(chunks).toString('utf8');
      let verified: Received['verified'];
      try {
        verified = verifyWebhook(SECRET, request.headers, body);
      } catch (error) {
        verified = { refused: error instanceof WebhookVerificationError ? error.code : String(error) };
      }
      this.received.push({ path, headers: request.headers, body, verified });
      const seen = this.received.filter((entry) => entry.path === path).length;
      if ('refused' in verified) response.writeHead(401);
      else if (path.startsWith('/ok/')) response.writeHead(204);
      else if (path.startsWith('/flaky/')) response.writeHead(seen <= 2 ? 503 : 200);
      else response.writeHead(500);
      response.end();
    });
  });
  origin = '';

  async start(): Promise<void> {
    this.origin = await listenOnLoopback(this.#server);
  }

  stop(): Promise<void> {
    return closeServer(this.#server);
  }

  for(path: string): Received[] {
    return this.received.filter((entry) => entry.path === path);
  }
}

let pipeline: LocalPipeline;
let notifications: NotificationLog;
const receiver = new Receiver();
let run = 0;
/** A path of its own per test, so deliveries are told apart. */
const hookPath = (kind: 'ok' | 'flaky' | 'down') => `/${kind}/${++run}`;

beforeAll(async () => {
  await receiver.start();
  pipeline = await startLocalPipeline({
    stackName: 'webhooks-test',
    retryDelaySeconds: 1,
    waitTimeSeconds: 1,
    env: {
      webhookSigningSecret: SECRET,
      webhookRetryDelaysSeconds: '1',
      webhookRetryWindowSeconds: RETRY_WINDOW_SECONDS,
    },
    // Long enough in `running` that the first poll (2 s after submission, plus the local
    // queue's latency) sees the job started.
    simulator: { knobs: { queue_delay_s: 0, run_delay_s: 5, workers: 4 } },
    extraEnv: { POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_METRICS_DISABLED: 'true' },
  });
  notifications = new NotificationLog(pipeline);
});

afterAll(async () => {
  await pipeline?.stop();
  await receiver.stop();
});

async function submitWithWebhook(path: string): Promise<string> {
  const submitted = await postEdit(pipeline, {
    prompt: 'make the cup red',
    image_urls: [PNG_INPUT],
    caller_reference: `webhooks-${path}`,
    metadata: { suite: 'webhooks' },
    webhook_url: `${receiver.origin}${path}`,
  });
  expect(submitted.status).toBe(202);
  return String(submitted.body.id);
}

/** Waits until the job's webhook delivery reaches `status`, and returns the job. */
const webhookSettles = (id: string, status: 'delivered' | 'failed', timeoutMs = 20_000) =>
  waitUntil(async () => {
    const job = await getJob(pipeline, id);
    return job.webhook?.status === status ? job : undefined;
  }, timeoutMs);

const resend = async (id: string) => {
  const response = await fetch(`${pipeline.apiUrl}/edits/${id}/notifications/resend`, { method: 'POST' });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

describe.concurrent('Webhooks: delivery', () => {
  it('POSTs the signed completion event, the same document as on SNS and EventBridge', async ({ expect }) => {
    // Prepare
    const path = hookPath('ok');

    // Act
    const id = await submitWithWebhook(path);
    const finished = await waitForJob(pipeline, id);
    const job = await webhookSettles(id, 'delivered');

    // Assess: one delivery, signed with the stack's secret, identified by the event id
    expect(finished.status).toBe('succeeded');
    const [delivery, ...more] = receiver.for(path);
    expect(more).toEqual([]);
    expect(delivery?.verified).toMatchObject({ id: `${id}:succeeded`, payload: expect.any(Object) });
    expect(delivery?.headers).toMatchObject({
      'content-type': 'application/json',
      'webhook-id': `${id}:succeeded`,
      'webhook-signature': expect.stringMatching(/^v1,[A-Za-z0-9+/]+=*$/),
    });
    expect(Number(delivery?.headers['webhook-timestamp'])).toBeCloseTo(Date.now() / 1000, -2);

    // Assess: the very document SNS and EventBridge carried
    const { sns, events } = await notifications.completionOf(id);
    const payload = JSON.parse(delivery!.body);
    expect(sns.map((message) => message.body)).toEqual([payload]);
    expect(events.map((event) => event.detail)).toEqual([payload]);
    expect(payload).toMatchObject({
      type: 'edit.job.completed',
      status: 'succeeded',
      job_id: id,
      caller_reference: `webhooks-${path}`,
      metadata: { suite: 'webhooks' },
    });

    // Assess: the delivery as the job records it
    expect(job.webhook).toEqual({
      status: 'delivered',
      attempts: 1,
      last_attempt_at: expect.any(String),
      last_status_code: 204,
      delivered_at: expect.any(String),
    });
  });

  it('announces Edit Job Submitted and Edit Job Started once each, before the completion', async ({
    expect,
  }) => {
    // Act
    const id = await submitWithWebhook(hookPath('ok'));
    await waitForJob(pipeline, id);
    await notifications.completionOf(id);

    // Assess
    const submitted = notifications.eventsFor(id, EVENTS.jobSubmitted);
    const started = notifications.eventsFor(id, EVENTS.jobStarted);
    expect(submitted.map((event) => event.detail)).toEqual([
      expect.objectContaining({ event_id: `${id}:submitted`, status: 'queued', job_id: id }),
    ]);
    expect(started.map((event) => event.detail)).toEqual([
      expect.objectContaining({ event_id: `${id}:started`, status: 'running', job_id: id }),
    ]);
    const [submittedDetail] = submitted.map((event) => event.detail as unknown as { occurred_at: string });
    const [startedDetail] = started.map((event) => event.detail as unknown as { occurred_at: string });
    expect(submittedDetail!.occurred_at <= startedDetail!.occurred_at).toBe(true);
  });

  it('retries a failing receiver after its delays until it answers 2xx, and records each attempt', async ({
    expect,
  }) => {
    // Prepare
    const path = hookPath('flaky');

    // Act
    const id = await submitWithWebhook(path);
    const job = await webhookSettles(id, 'delivered');

    // Assess: three signed attempts of one event, the third accepted
    const deliveries = receiver.for(path);
    expect(deliveries).toHaveLength(3);
    for (const delivery of deliveries) {
      expect(delivery.verified).toMatchObject({ id: `${id}:succeeded` });
      expect(delivery.body).toBe(deliveries[0]!.body);
    }
    const timestamps = deliveries.map((delivery) => Number(delivery.headers['webhook-timestamp']));
    expect(timestamps).toEqual([...timestamps].sort((a, b) => a - b));
    expect(job.webhook).toMatchObject({ status: 'delivered', attempts: 3, last_status_code: 200 });
    expect(job.webhook).not.toHaveProperty('last_error');
  });

  it('gives up with `failed` once the retry window is over, keeping the last outcome', async ({ expect }) => {
    // Prepare
    const path = hookPath('down');

    // Act
    const id = await submitWithWebhook(path);
    const job = await webhookSettles(id, 'failed', 30_000);

    // Assess
    expect(job.webhook).toMatchObject({ status: 'failed', last_status_code: 500, last_error: 'HTTP 500' });
    expect(job.webhook!.attempts).toBeGreaterThanOrEqual(2);
    expect(receiver.for(path)).toHaveLength(job.webhook!.attempts);
  });
});

describe.concurrent('Webhooks: resend', () => {
  it('delivers a finished job’s event again, with the same id, and keeps counting attempts', async ({
    expect,
  }) => {
    // Prepare
    const path = hookPath('ok');
    const id = await submitWithWebhook(path);
    await webhookSettles(id, 'delivered');

    // Act
    const resent = await resend(id);
    const job = await waitUntil(async () => {
      const current = await getJob(pipeline, id);
      return current.webhook?.status === 'delivered' && current.webhook.attempts === 2 ? current : undefined;
    });

    // Assess
    expect(resent.status).toBe(202);
    expect((resent.body as unknown as JobView).webhook).toMatchObject({ status: 'pending', attempts: 1 });
    const deliveries = receiver.for(path);
    expect(deliveries).toHaveLength(2);
    expect(deliveries[1]!.headers['webhook-id']).toBe(deliveries[0]!.headers['webhook-id']);
    expect(deliveries[1]!.body).toBe(deliveries[0]!.body);
    expect(job.webhook).toMatchObject({ status: 'delivered', attempts: 2, last_status_code: 204 });
  });

  it('refuses an unknown job (404), an unfinished one (409) and one without a webhook_url (422)', async ({
    expect,
  }) => {
    // Prepare
    const running = await submitWithWebhook(hookPath('ok'));
    const plain = await postEdit(pipeline, { prompt: 'make the cup red', image_urls: [PNG_INPUT] });
    const plainId = String(plain.body.id);

    // Act
    const unfinished = await resend(running);
    const unknown = await resend('no-such-job');
    await waitForJob(pipeline, plainId);
    const withoutUrl = await resend(plainId);

    // Assess
    expect(unfinished).toMatchObject({ status: 409, body: { code: 'JOB_NOT_FINISHED' } });
    expect(unknown).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    expect(withoutUrl).toMatchObject({ status: 422, body: { code: 'NO_WEBHOOK_URL' } });
    await waitForJob(pipeline, running);
  });
});

describe.concurrent('Webhooks: the webhook_url', () => {
  it('is refused unless https, or http to loopback in the local runtime, and without credentials', async ({
    expect,
  }) => {
    // Act
    const answers = await Promise.all(
      [
        'http://hooks.example.com/flux',
        'https://user:secret@hooks.example.com/flux',
        'ftp://hooks.example.com/',
      ].map((webhook_url) =>
        postEdit(pipeline, { prompt: 'make the cup red', image_urls: [PNG_INPUT], webhook_url }),
      ),
    );

    // Assess
    for (const answer of answers) {
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ code: 'INVALID_REQUEST', errors: [{ path: 'webhook_url' }] });
      expect(JSON.stringify(answer.body)).not.toContain('secret@');
    }
  });

  it('builds, from the stored job, the event the notifier sent', async ({ expect }) => {
    // Prepare: the event as the core builds it for any attempt, from the job as stored now
    const id = await submitWithWebhook(hookPath('ok'));
    await webhookSettles(id, 'delivered');
    // (read through the store, which reads the id back from the item's key)
    const { DynamoJobStore } = await import('#adapters/aws/dynamo-job-store');
    const stored = await new DynamoJobStore(pipeline.clients.dynamo, pipeline.table, 30).get(id);

    // Act
    const rebuilt = completionEvent(stored!);

    // Assess: later bookkeeping writes (notification, webhook) do not change the document
    const { sns } = await notifications.completionOf(id);
    expect(JSON.parse(JSON.stringify(rebuilt))).toEqual(sns[0]?.body);
  });
});
