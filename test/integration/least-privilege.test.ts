import { createServer, type Server } from 'node:http';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchView } from '#core/batches/batch-view';
import { FUNCTIONS, loadConfig, type QueueName } from '../../contract/index.ts';
import {
  type AwsRequest,
  type AwsRequestCounter,
  attributedHandlers,
  RUNTIME_CALLER,
  startAwsRequestCounter,
} from '../../local/aws-request-counter.ts';
import { type MotoServer, startMotoServer } from '../../local/moto-server.ts';
import { type LocalPipeline, startLocalPipeline } from '../../local/pipeline.ts';
import { callApi, editLine, uploadManifest, waitForBatch } from '../support/batch-helpers.ts';
import { describeNeeds, type GrantedResources, isGranted, needsOf } from '../support/granted-access.ts';
import { closeServer, listenOnLoopback } from '../support/loopback-server.ts';
import { getJob, PNG_INPUT, postEdit, waitForJob, waitUntil } from '../support/pipeline-helpers.ts';
import { strandedJob } from '../support/stranded-job.ts';

/**
 * Least privilege, checked against what the functions really do: moto enforces no IAM, so a
 * handler that starts calling an API its role lacks passes every other test and fails only when
 * deployed. Here every AWS request of the local pipeline goes through a proxy that attributes it
 * to the function whose invocation made it; the paths below drive each function; and every
 * request must be allowed by that function's row of FUNCTION_ACCESS (infra/defaults/function-access.ts),
 * read as infra/function-resources.ts turns it into IAM. The runtime's own requests (its SQS
 * event source mappings, the test's setup) are not a function's and are not checked.
 */

const seen: AwsRequest[] = [];
let moto: MotoServer;
let counter: AwsRequestCounter;
let pipeline: LocalPipeline;
let resources: GrantedResources;
let hookOrigin = '';
const hooks: Server = createServer((request, response) => {
  request.resume();
  request.on('end', () => response.writeHead(204).end());
});

beforeAll(async () => {
  hookOrigin = await listenOnLoopback(hooks);
  moto = await startMotoServer();
  counter = await startAwsRequestCounter(moto.endpoint, {
    onRequest: (request) => {
      if (request.caller !== RUNTIME_CALLER) seen.push(request);
    },
  });
  pipeline = await startLocalPipeline({
    stackName: 'least-privilege-test',
    awsEndpoint: counter.endpoint,
    handlers: attributedHandlers(),
    retryDelaySeconds: 1,
    waitTimeSeconds: 1,
    // The sweeper's schedule, often enough to run a few times (and find the stranded job below).
    sweepIntervalSeconds: 2,
    // One job at RunComfy at a time: others wait in line, and ends and cancels admit them.
    env: { upstreamConcurrency: 1, webhookRetryDelaysSeconds: '1', sweepGraceSeconds: 1 },
    simulator: { knobs: { queue_delay_s: 0.1, run_delay_s: 0.3, workers: 4 } },
    webConsole: false,
    extraEnv: { POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_METRICS_DISABLED: 'true' },
  });
  const config = loadConfig();
  resources = {
    table: pipeline.table,
    bucket: pipeline.bucket,
    outputPrefix: config.outputPrefix,
    uploadPrefix: config.uploadPrefix,
    inputS3Allowlist: config.inputS3Allowlist ?? [],
    queues: pipeline.queues as Partial<Record<QueueName, string>>,
    topicArn: pipeline.topicArn,
    eventBusName: pipeline.eventBusName,
    secrets: {
      runComfyToken: config.runComfyTokenSecretArn,
      webhook: config.webhookSecretArn,
      listCursor: config.listCursorSecretArn,
    },
  };
});

afterAll(async () => {
  await pipeline?.stop();
  await counter?.close();
  await moto?.stop();
  await closeServer(hooks);
});

const ended = (id: string) => waitForJob(pipeline, id, undefined, 40_000);

describe('Least privilege: the paths', { timeout: 60_000 }, () => {
  it('edits: plain, idempotent, with a webhook (and its resend), failing upstream; read, listed, deleted', async () => {
    const plain = await postEdit(pipeline, { prompt: 'plain', image_urls: [PNG_INPUT] });
    const key = { 'idempotency-key': 'least-privilege-1' };
    const keyed = await postEdit(pipeline, { prompt: 'keyed', image_urls: [PNG_INPUT] }, key);
    const again = await postEdit(pipeline, { prompt: 'keyed', image_urls: [PNG_INPUT] }, key);
    const hooked = await postEdit(pipeline, {
      prompt: 'hooked',
      image_urls: [PNG_INPUT],
      webhook_url: `${hookOrigin}/hook`,
    });
    const failing = await postEdit(pipeline, { prompt: 'this will __FAIL__', image_urls: [PNG_INPUT] });
    expect([plain, keyed, hooked, failing].map((answer) => answer.status)).toEqual([202, 202, 202, 202]);
    expect(again.body.id).toBe(keyed.body.id);

    const [plainJob, , , failedJob] = await Promise.all(
      [plain, keyed, hooked, failing].map((answer) => ended(String(answer.body.id))),
    );
    expect(plainJob?.status).toBe('succeeded');
    expect(failedJob?.status).toBe('failed');
    await waitUntil(async () => {
      const job = await getJob(pipeline, String(hooked.body.id));
      return job.webhook?.status === 'delivered' ? job : undefined;
    }, 20_000);
    const resend = await callApi(pipeline, 'POST', `/edits/${hooked.body.id}/notifications/resend`);
    expect(resend.status).toBeLessThan(300);

    const page = await callApi<{ items: unknown[]; next_token?: string }>(pipeline, 'GET', '/edits?limit=1');
    expect(page.status).toBe(200);
    const token = encodeURIComponent(page.body.next_token ?? '');
    expect((await callApi(pipeline, 'GET', `/edits?limit=1&next_token=${token}`)).status).toBe(200);
    expect((await callApi(pipeline, 'GET', '/edits?status=succeeded')).status).toBe(200);
    expect((await callApi(pipeline, 'DELETE', `/edits/${plain.body.id}`)).status).toBeLessThan(300);
    await pipeline.drain({ timeoutMs: 30_000 });
  });

  it('cancels: a job in line and one holding the slot', async () => {
    const answers = await Promise.all(
      [1, 2, 3].map((n) => postEdit(pipeline, { prompt: `cancel ${n}`, image_urls: [PNG_INPUT] })),
    );
    const ids = answers.map((answer) => String(answer.body.id));
    const cancels = await Promise.all(
      ids.slice(0, 2).map((id) => callApi(pipeline, 'POST', `/edits/${id}/cancel`)),
    );
    for (const answer of cancels) expect(answer.status).toBeLessThan(500);
    await Promise.all(ids.map(ended));
    await pipeline.drain({ timeoutMs: 30_000 });
  });

  it('uploads: an s3:// input, and a manifest batch', async () => {
    const png = await sharp({ create: { width: 32, height: 24, channels: 3, background: '#3c3' } })
      .png()
      .toBuffer();
    const ticket = await callApi<{ upload_url: string; headers: Record<string, string>; s3_uri: string }>(
      pipeline,
      'POST',
      '/uploads',
      { content_type: 'image/png', size_bytes: png.length, filename: 'cup.png' },
    );
    expect(ticket.status).toBe(201);
    const put = await fetch(ticket.body.upload_url, {
      method: 'PUT',
      headers: ticket.body.headers,
      body: png,
    });
    expect(put.status).toBe(200);
    const submitted = await postEdit(pipeline, { prompt: 'my upload', image_urls: [ticket.body.s3_uri] });
    expect((await ended(String(submitted.body.id))).status).toBe('succeeded');

    const lines = [editLine(1), editLine(2)].map((line) => JSON.stringify(line));
    const manifest = await uploadManifest(pipeline, `${lines.join('\n')}\n`);
    const batch = await callApi<BatchView>(pipeline, 'POST', '/batches', { manifest });
    expect(batch.status).toBe(202);
    expect((await waitForBatch(pipeline, batch.body.id)).status).toBe('completed');
  });

  it('batches: inline to completion, and one cancelled', async () => {
    const requests = [editLine(1), editLine(2, { prompt: 'fails __FAIL__' }), editLine(3)];
    const batch = await callApi<BatchView>(
      pipeline,
      'POST',
      '/batches',
      { requests },
      {
        'idempotency-key': 'least-privilege-batch',
      },
    );
    expect(batch.status).toBe(202);
    const cancelled = await callApi<BatchView>(pipeline, 'POST', '/batches', {
      requests: [editLine(4), editLine(5), editLine(6)],
    });
    expect(cancelled.status).toBe(202);
    // Once its jobs exist, so that cancelling reaches them.
    await waitForBatch(pipeline, cancelled.body.id, ['running', 'completed']);
    expect((await callApi(pipeline, 'POST', `/batches/${cancelled.body.id}/cancel`)).status).toBeLessThan(
      500,
    );

    const done = await waitForBatch(pipeline, batch.body.id);
    expect(done).toMatchObject({ status: 'completed', jobs_created: 3 });
    await waitForBatch(pipeline, cancelled.body.id, ['completed', 'cancelled']);
    await pipeline.drain({ timeoutMs: 30_000 });
  });

  it('the submit queue: a valid request and a refused one', async () => {
    for (const body of [
      { prompt: 'from the queue', image_urls: [PNG_INPUT], caller_reference: 'lp-queue-1' },
      { prompt: 'bad', image_urls: [], caller_reference: 'lp-queue-bad' },
    ]) {
      await pipeline.clients.sqs.send(
        new SendMessageCommand({ QueueUrl: pipeline.queues.submit, MessageBody: JSON.stringify(body) }),
      );
    }
    const byReference = async (reference: string) => {
      const { body } = await callApi<{ items: { id: string; status: string }[] }>(
        pipeline,
        'GET',
        `/edits?caller_reference=${reference}`,
      );
      const job = body.items?.[0];
      return job && ['succeeded', 'failed'].includes(job.status) ? job : undefined;
    };
    expect((await waitUntil(() => byReference('lp-queue-1'), 40_000)).status).toBe('succeeded');
    expect((await waitUntil(() => byReference('lp-queue-bad'), 20_000)).status).toBe('failed');
  });

  it('the sweeper: a job whose poll chain stopped is taken over', async () => {
    // A job RunComfy accepted, left as a stopped poll chain would leave it: past its deadline and
    // due for the sweeper (which hands its finished run to the result function, or expires it).
    const { job } = await strandedJob('stranded');
    expect(['succeeded', 'expired']).toContain((await ended(job.id)).status);
    await pipeline.drain({ timeoutMs: 30_000 });
  });
});

describe('Least privilege: the grants', () => {
  it('every function made requests, and FUNCTION_ACCESS grants each one', () => {
    const needs = seen.flatMap((request) => needsOf(request, resources));
    const callers = new Set(needs.map((need) => need.function));
    expect([...callers].sort()).toEqual(Object.keys(FUNCTIONS).sort());

    const refused = describeNeeds(needs.filter((need) => !isGranted(need, resources)));
    expect(
      refused,
      `AWS requests their function's FUNCTION_ACCESS row (infra/defaults/function-access.ts) does not grant:\n  ${refused.join('\n  ')}\n`,
    ).toEqual([]);
  });
});
