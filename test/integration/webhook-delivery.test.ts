import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDynamoDocumentClient } from '#adapters/aws/clients';
import { DynamoJobStore } from '#adapters/aws/dynamo-job-store';
import type { Clock } from '#core/clock';
import type { Job } from '#core/jobs/job';
import { toJobView } from '#core/jobs/job-view';
import { silentLog } from '#core/log';
import { deliverWebhook, type WebhookDeps } from '#core/webhooks/deliver-webhook';
import { postWebhook } from '#core/webhooks/post-webhook';
import { decodeSigningSecret, generateSigningSecret } from '#core/webhooks/sign';
import { resendWebhook, startWebhookDelivery } from '#core/webhooks/start-delivery';
import { verifyWebhook } from '#core/webhooks/verify';
import type { WebhookMessage } from '#core/webhooks/webhook-message';
import { type MotoServer, startMotoServer } from '../../local/moto-server.ts';
import { createKeyOnlyJobsTable } from '../support/jobs-table.ts';
import { stubAwsEnvFor } from '../support/moto-env.ts';

const TABLE_NAME = 'webhook-delivery-jobs';
const SECRET = generateSigningSecret();
const T0 = Date.parse('2026-03-01T12:00:00.000Z');

/** Answers with `status` (a number, or one per request in turn); `/slow` answers after 500 ms. */
class Receiver {
  status: number | number[] = 204;
  readonly requests: { headers: IncomingHttpHeaders; body: string }[] = [];
  #server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      this.requests.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      const status = Array.isArray(this.status) ? (this.status.shift() ?? 204) : this.status;
      if (request.url === '/slow') setTimeout(() => response.writeHead(status).end(), 500);
      else response.writeHead(status).end();
    });
  });
  url = '';

  async start(): Promise<void> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hook`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, 'close');
  }
}

/** Records what would go on the webhook queue, so each test hands the messages on itself. */
class QueueRecorder {
  readonly sent: { message: WebhookMessage; delaySeconds: number }[] = [];
  async schedule(message: WebhookMessage, delaySeconds = 0): Promise<void> {
    this.sent.push({ message, delaySeconds });
  }
  take(): { message: WebhookMessage; delaySeconds: number } {
    const next = this.sent.shift();
    if (!next) throw new Error('nothing was queued');
    return next;
  }
}

let moto: MotoServer;
let store: DynamoJobStore;
const receiver = new Receiver();
let queue: QueueRecorder;
let nowMs = T0;
const clock: Clock = { now: () => nowMs, sleep: async () => {} };
let jobCount = 0;

function deps(overrides: Partial<WebhookDeps> = {}): WebhookDeps {
  return {
    config: {
      webhookRetryDelaysSeconds: [5, 30, 120, 300, 900],
      webhookRetryWindowSeconds: 86_400,
      allowLoopbackHttp: true,
    },
    clock,
    log: silentLog,
    metrics: { count() {} },
    store,
    queues: { scheduleWebhook: (message, delaySeconds) => queue.schedule(message, delaySeconds) },
    signingKeys: async () => [decodeSigningSecret(SECRET)],
    ...overrides,
  };
}

/** A finished job that asked for a webhook, stored, with its delivery started. */
async function finishedJob(webhookUrl = receiver.url): Promise<Job> {
  const job: Job = {
    id: `job-${++jobCount}`,
    status: 'succeeded',
    input: {
      prompt: 'p',
      image_urls: ['https://inputs.example.com/a.png'],
      guidance_scale: 2.5,
      image_size: 'square_hd',
      output_format: 'png',
    },
    webhookUrl,
    createdAt: new Date(nowMs).toISOString(),
    updatedAt: new Date(nowMs).toISOString(),
    deadlineAt: new Date(nowMs + 900_000).toISOString(),
    finishedAt: new Date(nowMs).toISOString(),
    submitAttempts: 1,
    pollCount: 3,
  };
  await store.create(job);
  await startWebhookDelivery(deps(), job);
  return job;
}

const deliveryOf = async (id: string) => (await store.get(id))?.webhook;

beforeAll(async () => {
  const [started] = await Promise.all([startMotoServer(), receiver.start()]);
  moto = started;
  stubAwsEnvFor(moto.endpoint);
  const dynamo = createDynamoDocumentClient();
  await createKeyOnlyJobsTable(dynamo, TABLE_NAME);
  store = new DynamoJobStore(dynamo, TABLE_NAME, 30, clock);
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await Promise.all([moto?.stop(), receiver.stop()]);
});

beforeEach(() => {
  queue = new QueueRecorder();
  receiver.status = 204;
  receiver.requests.length = 0;
  nowMs = T0;
});

describe('Function: deliverWebhook', () => {
  it('POSTs the signed completion event once, however often its message arrives', async () => {
    // Prepare
    const job = await finishedJob();
    const { message, delaySeconds } = queue.take();

    // Act
    const first = await deliverWebhook(deps(), message, 'message-1');
    const duplicate = await deliverWebhook(deps(), message, 'message-2');
    const redelivered = await deliverWebhook(deps(), message, 'message-1');

    // Assess
    expect(delaySeconds).toBe(0);
    expect(message).toEqual({ jobId: job.id, round: 1, attempt: 0, retry: 0 });
    expect([first, duplicate, redelivered]).toEqual(['delivered', 'dropped', 'dropped']);
    expect(receiver.requests).toHaveLength(1);
    const [request] = receiver.requests;
    const verified = verifyWebhook(SECRET, request!.headers, request!.body, { now: T0 });
    expect(verified).toMatchObject({ id: `${job.id}:succeeded`, timestamp: T0 / 1000 });
    expect(verified.payload).toMatchObject({ event_id: `${job.id}:succeeded`, type: 'edit.job.completed' });
    expect(request!.headers['user-agent']).toMatch(/^flux-edit-pipeline-webhooks\//);
    expect(toJobView((await store.get(job.id))!).webhook).toEqual({
      status: 'delivered',
      attempts: 1,
      last_attempt_at: new Date(T0).toISOString(),
      last_status_code: 204,
      delivered_at: new Date(T0).toISOString(),
    });
    expect(queue.sent).toEqual([]);
  });

  it('resumes the attempt of a message redelivered after its handler died, and drops other copies', async () => {
    // Prepare: the first try claims the attempt and dies before recording its outcome
    const job = await finishedJob();
    const { message } = queue.take();
    const dying = deps({
      post: async () => {
        throw new Error('the function timed out');
      },
    });
    await expect(deliverWebhook(dying, message, 'message-1')).rejects.toThrow('timed out');

    // Act
    const copy = await deliverWebhook(deps(), message, 'message-2');
    const redelivery = await deliverWebhook(deps(), message, 'message-1');

    // Assess
    expect([copy, redelivery]).toEqual(['dropped', 'delivered']);
    expect(receiver.requests).toHaveLength(1);
    expect(await deliveryOf(job.id)).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it('retries after 5, 30, 120, 300 s and then every 900 s, and gives up when the day is over', async () => {
    // Prepare
    receiver.status = 503;
    const job = await finishedJob();
    const delays: number[] = [];
    let next = queue.take();

    // Act: hand each queued attempt on after its delay, as SQS would
    let outcome = await deliverWebhook(deps(), next.message, 'message-0');
    while (outcome === 'retry_scheduled') {
      next = queue.take();
      delays.push(next.delaySeconds);
      nowMs += next.delaySeconds * 1000;
      outcome = await deliverWebhook(deps(), next.message, `message-${delays.length}`);
    }

    // Assess
    expect(outcome).toBe('failed');
    expect(delays.slice(0, 6)).toEqual([5, 30, 120, 300, 900, 900]);
    expect(new Set(delays.slice(4))).toEqual(new Set([900]));
    const elapsedSeconds = (nowMs - T0) / 1000;
    expect(elapsedSeconds).toBeLessThanOrEqual(86_400);
    expect(elapsedSeconds + 900).toBeGreaterThan(86_400);
    expect(receiver.requests).toHaveLength(delays.length + 1);
    expect(new Set(receiver.requests.map((request) => request.headers['webhook-id']))).toEqual(
      new Set([`${job.id}:succeeded`]),
    );
    expect(toJobView((await store.get(job.id))!).webhook).toEqual({
      status: 'failed',
      attempts: delays.length + 1,
      last_attempt_at: new Date(nowMs).toISOString(),
      last_status_code: 503,
      last_error: 'HTTP 503',
    });
    expect(queue.sent).toEqual([]);
  });

  it('counts a redirect, a timeout and a refused connection as failed attempts', async () => {
    // Prepare
    receiver.status = 302;
    const redirected = await finishedJob();
    const closedPort = await finishedJob('http://127.0.0.1:9/hook');
    const slow = deps({ post: (url, body, headers) => postWebhook(url, body, headers, { timeoutMs: 50 }) });
    const late = await finishedJob(receiver.url.replace('/hook', '/slow'));
    const messages = [queue.take(), queue.take(), queue.take()].map((sent) => sent.message);

    // Act
    const outcomes = [
      await deliverWebhook(deps(), messages[0]!, 'r'),
      await deliverWebhook(deps(), messages[1]!, 'c'),
      await deliverWebhook(slow, messages[2]!, 's'),
    ];

    // Assess
    expect(outcomes).toEqual(['retry_scheduled', 'retry_scheduled', 'retry_scheduled']);
    expect(await deliveryOf(redirected.id)).toMatchObject({
      lastStatusCode: 302,
      lastError: 'HTTP 302: redirects are not followed',
    });
    const refused = await deliveryOf(closedPort.id);
    expect(refused?.lastError).toMatch(/^connection failed/);
    expect(refused).not.toHaveProperty('lastStatusCode');
    expect(await deliveryOf(late.id)).toMatchObject({ lastError: 'timed out after 0.05 s' });
  });

  it('fails at once, without a request, when the webhook_url is not allowed here', async () => {
    // Prepare
    const job = await finishedJob(receiver.url);
    const { message } = queue.take();

    // Act
    const outcome = await deliverWebhook(
      deps({ config: { ...deps().config, allowLoopbackHttp: false } }),
      message,
      'message-1',
    );

    // Assess
    expect(outcome).toBe('failed');
    expect(receiver.requests).toEqual([]);
    expect(await deliveryOf(job.id)).toMatchObject({
      status: 'failed',
      attempts: 1,
      lastError: 'webhook_url must be an https:// URL',
    });
  });

  it('neither records nor reschedules an attempt that a resend overtook', async () => {
    // Prepare
    const job = await finishedJob();
    const { message } = queue.take();
    const overtaken = deps({
      post: async () => {
        await resendWebhook(deps(), job.id);
        return { delivered: false, statusCode: 500, error: 'HTTP 500' };
      },
    });

    // Act
    const outcome = await deliverWebhook(overtaken, message, 'message-1');

    // Assess
    expect(outcome).toBe('superseded');
    expect(queue.sent.map((sent) => sent.message)).toEqual([
      { jobId: job.id, round: 2, attempt: 1, retry: 0 },
    ]);
    expect(await deliveryOf(job.id)).toMatchObject({ status: 'pending', round: 2, attempts: 1 });
  });
});

describe('Function: resendWebhook', () => {
  it('starts a new round that retires the messages of the earlier one', async () => {
    // Prepare: the first attempt fails and queues a retry
    receiver.status = [500];
    const job = await finishedJob();
    await deliverWebhook(deps(), queue.take().message, 'message-1');
    const retry = queue.take().message;

    // Act
    const resent = await resendWebhook(deps(), job.id);
    const stale = await deliverWebhook(deps(), retry, 'message-2');
    const fresh = await deliverWebhook(deps(), queue.take().message, 'message-3');

    // Assess
    expect(toJobView(resent).webhook).toEqual({
      status: 'pending',
      attempts: 1,
      last_attempt_at: new Date(T0).toISOString(),
      last_status_code: 500,
      last_error: 'HTTP 500',
    });
    expect([stale, fresh]).toEqual(['dropped', 'delivered']);
    expect(receiver.requests).toHaveLength(2);
    expect(await deliveryOf(job.id)).toMatchObject({ status: 'delivered', round: 2, attempts: 2 });
  });

  it('refuses a job that has not ended, one without a webhook_url, and an unknown one', async () => {
    // Prepare
    const running: Job = {
      ...(await finishedJob()),
      id: 'job-running',
      status: 'running',
      finishedAt: undefined,
    };
    const plain: Job = { ...running, id: 'job-plain', status: 'failed', webhookUrl: undefined };
    await store.create(running);
    await store.create(plain);

    // Act & Assess
    await expect(resendWebhook(deps(), running.id)).rejects.toMatchObject({
      code: 'JOB_NOT_FINISHED',
      status: 409,
    });
    await expect(resendWebhook(deps(), plain.id)).rejects.toMatchObject({
      code: 'NO_WEBHOOK_URL',
      status: 422,
    });
    await expect(resendWebhook(deps(), 'job-unknown')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      status: 404,
    });
  });
});

describe('Function: startWebhookDelivery', () => {
  it('may run twice (a notification retried): the second start queues an attempt that is dropped', async () => {
    // Prepare
    const job = await finishedJob();

    // Act
    await startWebhookDelivery(deps(), job);
    const outcomes = [
      await deliverWebhook(deps(), queue.take().message, 'message-1'),
      await deliverWebhook(deps(), queue.take().message, 'message-2'),
    ];
    await startWebhookDelivery(deps(), job);

    // Assess
    expect(outcomes).toEqual(['delivered', 'dropped']);
    expect(queue.sent).toEqual([]);
    expect(receiver.requests).toHaveLength(1);
  });

  it('does nothing for a job without a webhook_url', async () => {
    // Prepare
    const job = await finishedJob('');

    // Assess
    expect(queue.sent).toEqual([]);
    expect(await deliveryOf(job.id)).toBeUndefined();
  });
});
