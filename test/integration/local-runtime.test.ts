import { createHash } from 'node:crypto';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PublishCommand } from '@aws-sdk/client-sns';
import { ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Log } from '#core/log';
import { ENV, EVENTS, FUNCTIONS, QUEUES } from '../../contract/index.ts';
import { loadHandlers } from '../../local/handlers.ts';
import { type LocalPipeline, startLocalPipeline } from '../../local/pipeline.ts';
import { failedMessageIds } from '../../local/sqs-driver.ts';
import { createRecordingHandlers } from '../support/recording-handlers.ts';

const STACK = 'runtime-test';
const recorder = createRecordingHandlers();
const logged: { level: string; message: string; extra: object[] }[] = [];
const recordingLog: Log = {
  debug: () => {},
  info: () => {},
  warn: (message, ...extra) => logged.push({ level: 'warn', message, extra }),
  error: (message, ...extra) => logged.push({ level: 'error', message, extra }),
};
const environmentBefore = { ...process.env };
let pipeline: LocalPipeline;

const pollerRecords = () => recorder.calls.poller.flatMap((call) => (call.event as SQSEvent).Records);
const deliveriesOf = (body: string) => pollerRecords().filter((record) => record.body === body);

beforeAll(async () => {
  pipeline = await startLocalPipeline({
    stackName: STACK,
    handlers: recorder.handlers,
    retryDelaySeconds: 0,
    maxBodyBytes: 4096,
    env: { jobDeadlineSeconds: 120 },
    log: recordingLog,
  });
});

afterAll(async () => {
  await pipeline?.stop();
});

beforeEach(() => {
  recorder.reset();
  logged.length = 0;
});

describe('Function: startLocalPipeline', () => {
  it('points the functions at the local resources and the simulator', () => {
    // Assess
    expect(pipeline.runComfy.simulated).toBe(true);
    expect(pipeline.simulator).toBeDefined();
    expect(process.env).toMatchObject({
      AWS_ENDPOINT_URL: pipeline.awsEndpoint,
      AWS_REGION: 'us-east-1',
      [ENV.jobsTable]: `${STACK}-jobs`,
      [ENV.pollQueueUrl]: pipeline.queues.poll,
      [ENV.resultQueueUrl]: pipeline.queues.result,
      [ENV.outputBucket]: pipeline.bucket,
      [ENV.topicArn]: pipeline.topicArn,
      [ENV.eventBusName]: pipeline.eventBusName,
      [ENV.runComfyBaseUrl]: pipeline.simulator?.baseUrl,
      [ENV.runComfyApiToken]: pipeline.simulator?.token,
      [ENV.outputHostAllowlist]: '127.0.0.1,*.runcomfy.net',
      [ENV.allowLoopbackHttp]: 'true',
      [ENV.jobDeadlineSeconds]: '120',
    });
    expect(process.env[ENV.runComfyTokenSecretArn]).toBeUndefined();
  });

  it('refuses a second pipeline in the same process', async () => {
    // Act & Assess
    await expect(startLocalPipeline({ handlers: recorder.handlers })).rejects.toMatchObject({
      code: 'PIPELINE_ALREADY_RUNNING',
    });
  });

  it('loads the real handlers from their entries once the environment is set', async () => {
    // Act
    const handlers = await loadHandlers();

    // Assess
    for (const name of Object.keys(FUNCTIONS) as (keyof typeof FUNCTIONS)[]) {
      expect(handlers[name]).toBeTypeOf('function');
    }
  });

  it('cold-starts the handler modules afresh on every load, so a later pipeline gets its own config', async () => {
    // Act
    const first = await loadHandlers();
    const second = await loadHandlers();

    // Assess
    expect(second.submit).not.toBe(first.submit);
    expect(second.poller).not.toBe(first.poller);
  });

  it('invokes a handler directly with a Lambda context', async () => {
    // Prepare
    recorder.behave('result', () => 'done');

    // Act
    const result = await pipeline.invoke('result', { Records: [] });

    // Assess
    expect(result).toBe('done');
    const { context } = recorder.calls.result[0]!;
    expect(context).toMatchObject({
      functionName: `${STACK}-result`,
      functionVersion: '$LATEST',
      memoryLimitInMB: String(FUNCTIONS.result.memoryMb),
      invokedFunctionArn: `arn:aws:lambda:us-east-1:${pipeline.accountId}:function:${STACK}-result`,
      logGroupName: `/aws/lambda/${STACK}-result`,
    });
    expect(context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
    expect(context.getRemainingTimeInMillis()).toBeLessThanOrEqual(FUNCTIONS.result.timeoutSeconds * 1000);
  });
});

describe('Function: startHttpApi (through the pipeline)', () => {
  it('turns a request into an API Gateway payload 2.0 event for the route', async () => {
    // Prepare
    const body = JSON.stringify({ prompt: 'make it red' });

    // Act
    await fetch(`${pipeline.apiUrl}/edits?tag=a&tag=b&x=1`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Custom': 'Yes', cookie: 'a=1; b=2' },
      body,
    });

    // Assess
    expect(recorder.calls.submit).toHaveLength(1);
    const event = recorder.calls.submit[0]!.event as APIGatewayProxyEventV2;
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'POST /edits',
      rawPath: '/edits',
      rawQueryString: 'tag=a&tag=b&x=1',
      queryStringParameters: { tag: 'a,b', x: '1' },
      cookies: ['a=1', 'b=2'],
      body,
      isBase64Encoded: false,
      requestContext: {
        accountId: pipeline.accountId,
        http: { method: 'POST', path: '/edits', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1' },
        routeKey: 'POST /edits',
        stage: '$default',
      },
    });
    expect(event.headers).toMatchObject({ 'content-type': 'application/json', 'x-custom': 'Yes' });
    expect(event.headers.cookie).toBeUndefined();
    expect(event.pathParameters).toBeUndefined();
    expect(event.requestContext.requestId).toMatch(/\S+/);
    expect(event.requestContext.time).toMatch(/^\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    expect(Math.abs(event.requestContext.timeEpoch - Date.now())).toBeLessThan(60_000);
  });

  it('decodes path parameters and routes by method and path', async () => {
    // Act
    await fetch(`${pipeline.apiUrl}/edits/job%201/cancel`, { method: 'POST' });
    await fetch(`${pipeline.apiUrl}/edits/job-2`);

    // Assess
    const events = recorder.calls.jobs.map((call) => call.event as APIGatewayProxyEventV2);
    expect(events.map((event) => [event.routeKey, event.pathParameters])).toEqual([
      ['POST /edits/{id}/cancel', { id: 'job 1' }],
      ['GET /edits/{id}', { id: 'job-2' }],
    ]);
    expect(events[1]).not.toHaveProperty('body');
    expect(events[1]).not.toHaveProperty('queryStringParameters');
    expect(recorder.calls.submit).toHaveLength(0);
  });

  it('base64-encodes a binary body', async () => {
    // Prepare
    const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff]);

    // Act
    await fetch(`${pipeline.apiUrl}/edits`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: bytes,
    });

    // Assess
    const event = recorder.calls.submit[0]!.event as APIGatewayProxyEventV2;
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body!, 'base64')).toEqual(bytes);
  });

  it('maps a structured result: status, headers, cookies, base64 body', async () => {
    // Prepare
    recorder.behave('submit', () => ({
      statusCode: 202,
      headers: { 'Content-Type': 'application/json', Location: '/edits/abc', 'X-Count': 3 },
      cookies: ['a=1; Path=/', 'b=2'],
      body: Buffer.from('{"id":"abc"}').toString('base64'),
      isBase64Encoded: true,
    }));

    // Act
    const response = await fetch(`${pipeline.apiUrl}/edits`, { method: 'POST', body: '{}' });

    // Assess
    expect(response.status).toBe(202);
    expect(response.headers.get('location')).toBe('/edits/abc');
    expect(response.headers.get('x-count')).toBe('3');
    expect(response.headers.get('apigw-requestid')).toBeTruthy();
    expect(response.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2']);
    expect(await response.json()).toEqual({ id: 'abc' });
  });

  it.each([
    ['an object', { id: 'abc' }, '{"id":"abc"}'],
    ['a string', 'hello', 'hello'],
  ])('answers 200 JSON when the handler returns %s without statusCode', async (_, result, expected) => {
    // Prepare
    recorder.behave('jobs', () => result);

    // Act
    const response = await fetch(`${pipeline.apiUrl}/edits/abc`);

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.text()).toBe(expected);
  });

  it.each([
    ['an unknown path', '/nowhere', 'GET', 404, 'Not Found'],
    ['a known path with another method', '/edits', 'PUT', 405, 'Method Not Allowed'],
  ])('answers problem+json for %s', async (_, path, method, status, title) => {
    // Act
    const response = await fetch(`${pipeline.apiUrl}${path}`, { method });

    // Assess
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toEqual({ type: 'about:blank', title, status });
    if (status === 405) expect(response.headers.get('allow')).toBe('POST, GET');
    expect(recorder.calls.submit).toHaveLength(0);
  });

  it('answers 500 without details when the handler throws, and logs the error', async () => {
    // Prepare
    recorder.behave('jobs', () => {
      throw new Error('secret database detail');
    });

    // Act
    const response = await fetch(`${pipeline.apiUrl}/edits/abc`);

    // Assess
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ type: 'about:blank', title: 'Internal Server Error', status: 500 });
    expect(text).not.toContain('secret');
    expect(JSON.stringify(logged)).toContain('secret database detail');
  });

  it('answers 500 when the handler returns a malformed response', async () => {
    // Prepare
    recorder.behave('jobs', () => ({ statusCode: 'ok' }));

    // Act
    const response = await fetch(`${pipeline.apiUrl}/edits/abc`);

    // Assess
    expect(response.status).toBe(500);
  });

  it('answers 413 to a body over the limit without invoking the handler', async () => {
    // Act
    const response = await fetch(`${pipeline.apiUrl}/edits`, { method: 'POST', body: 'x'.repeat(4097) });

    // Assess
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ status: 413 });
    expect(recorder.calls.submit).toHaveLength(0);
  });
});

describe('Class: SqsDriver (through the pipeline)', () => {
  it('invokes the consumer with an SQSEvent as Lambda builds it and deletes handled messages', async () => {
    // Prepare
    const body = JSON.stringify({ jobId: 'job-1' });

    // Act
    await pipeline.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: pipeline.queues.poll,
        MessageBody: body,
        MessageAttributes: {
          kind: { DataType: 'String', StringValue: 'poll' },
          blob: { DataType: 'Binary', BinaryValue: Buffer.from([1, 2, 3]) },
        },
      }),
    );
    await pipeline.drain();

    // Assess
    const [record] = pollerRecords() as [SQSRecord];
    expect(record).toMatchObject({
      body,
      md5OfBody: createHash('md5').update(body).digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:us-east-1:${pipeline.accountId}:${STACK}-poll`,
      awsRegion: 'us-east-1',
      attributes: { ApproximateReceiveCount: '1' },
      messageAttributes: {
        kind: { dataType: 'String', stringValue: 'poll', stringListValues: [], binaryListValues: [] },
        blob: { dataType: 'Binary', binaryValue: Buffer.from([1, 2, 3]).toString('base64') },
      },
    });
    expect(record.messageId).toMatch(/\S+/);
    expect(record.receiptHandle).toMatch(/\S+/);
    expect(Number(record.attributes.SentTimestamp)).toBeGreaterThan(0);
    expect(Number(record.attributes.ApproximateFirstReceiveTimestamp)).toBeGreaterThan(0);
    expect(record.attributes.SenderId).toBeTruthy();
    expect(recorder.calls.poller[0]!.context.functionName).toBe(`${STACK}-poller`);
    expect(await pipeline.idle()).toBe(true);
  });

  it('drives the result queue into the result function one message at a time', async () => {
    // Act
    await pipeline.clients.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: pipeline.queues.result,
        Entries: ['a', 'b', 'c'].map((id) => ({ Id: id, MessageBody: id })),
      }),
    );
    await pipeline.drain();

    // Assess
    const batches = recorder.calls.result.map((call) => (call.event as SQSEvent).Records.map((r) => r.body));
    expect(batches.flat().sort()).toEqual(['a', 'b', 'c']);
    expect(batches.every((batch) => batch.length <= QUEUES.result.batchSize)).toBe(true);
    expect(recorder.calls.poller).toHaveLength(0);
  });

  it('runs at most maxConcurrency batches of a queue at once', async () => {
    // Prepare
    let running = 0;
    let mostRunning = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((open) => {
      release = open;
    });
    recorder.behave('result', async () => {
      running += 1;
      mostRunning = Math.max(mostRunning, running);
      await gate;
      running -= 1;
    });
    const total = QUEUES.result.maxConcurrency + 2;

    // Act
    for (let first = 0; first < total; first += 10) {
      await pipeline.clients.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: pipeline.queues.result,
          Entries: Array.from({ length: Math.min(10, total - first) }, (_, index) => ({
            Id: String(index),
            MessageBody: `held-${first + index}`,
          })),
        }),
      );
    }
    await vi.waitFor(() => expect(running).toBe(QUEUES.result.maxConcurrency), { timeout: 20_000 });
    await new Promise((wait) => setTimeout(wait, 1_000));
    const heldAtOnce = mostRunning;
    release();
    await pipeline.drain();

    // Assess
    expect(heldAtOnce).toBe(QUEUES.result.maxConcurrency);
    expect(recorder.calls.result).toHaveLength(total);
  });

  it('redelivers only the messages reported in batchItemFailures', async () => {
    // Prepare
    recorder.behave(
      'poller',
      (event: SQSEvent): SQSBatchResponse => ({
        batchItemFailures: event.Records.filter(
          (record) => record.body === 'flaky' && record.attributes.ApproximateReceiveCount === '1',
        ).map((record) => ({ itemIdentifier: record.messageId })),
      }),
    );

    // Act
    await pipeline.clients.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: pipeline.queues.poll,
        Entries: ['steady-1', 'flaky', 'steady-2'].map((body, index) => ({
          Id: String(index),
          MessageBody: body,
        })),
      }),
    );
    await pipeline.drain();

    // Assess
    expect(deliveriesOf('steady-1')).toHaveLength(1);
    expect(deliveriesOf('steady-2')).toHaveLength(1);
    expect(deliveriesOf('flaky').map((record) => record.attributes.ApproximateReceiveCount)).toEqual([
      '1',
      '2',
    ]);
    expect(await receiveAll(pipeline.queues.pollDlq)).toEqual([]);
  });

  it('retries every message of a batch whose handler throws', async () => {
    // Prepare
    let thrownFor: string[] = [];
    recorder.behave('poller', (event: SQSEvent) => {
      if (thrownFor.length === 0) {
        thrownFor = event.Records.map((record) => record.messageId);
        throw new Error('transient');
      }
    });

    // Act
    await pipeline.clients.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: pipeline.queues.poll,
        Entries: ['one', 'two'].map((body) => ({ Id: body, MessageBody: body })),
      }),
    );
    await pipeline.drain();

    // Assess
    expect(thrownFor.length).toBeGreaterThan(0);
    for (const messageId of thrownFor) {
      const counts = pollerRecords()
        .filter((record) => record.messageId === messageId)
        .map((record) => record.attributes.ApproximateReceiveCount);
      expect(counts).toEqual(['1', '2']);
    }
    expect(logged.some((entry) => entry.level === 'error')).toBe(true);
  });

  it('moves a poison message to the DLQ after maxReceiveCount deliveries', async () => {
    // Prepare
    recorder.behave(
      'poller',
      (event: SQSEvent): SQSBatchResponse => ({
        batchItemFailures: event.Records.filter((record) => record.body === 'poison').map((record) => ({
          itemIdentifier: record.messageId,
        })),
      }),
    );

    // Act
    await pipeline.clients.sqs.send(
      new SendMessageCommand({ QueueUrl: pipeline.queues.poll, MessageBody: 'poison' }),
    );
    await pipeline.drain();

    // Assess
    expect(deliveriesOf('poison').map((record) => record.attributes.ApproximateReceiveCount)).toEqual(
      Array.from({ length: QUEUES.poll.maxReceiveCount }, (_, index) => String(index + 1)),
    );
    const dead = await receiveAll(pipeline.queues.pollDlq);
    expect(dead.map((message) => message.Body)).toEqual(['poison']);
  });
});

describe('Function: failedMessageIds', () => {
  const records = [{ messageId: 'a' }, { messageId: 'b' }] as SQSRecord[];

  it.each([
    ['no response', undefined, []],
    ['an empty list', { batchItemFailures: [] }, []],
    ['one failure', { batchItemFailures: [{ itemIdentifier: 'b' }] }, ['b']],
    ['an unknown identifier', { batchItemFailures: [{ itemIdentifier: 'zzz' }] }, ['a', 'b']],
    ['an empty identifier', { batchItemFailures: [{ itemIdentifier: '' }] }, ['a', 'b']],
  ])('applies Lambda’s rule for %s', (_, response, expected) => {
    // Act
    const failed = failedMessageIds(response, records);

    // Assess
    expect([...failed].sort()).toEqual(expected);
  });
});

describe('Observer queues', () => {
  it('receive topic notifications as SNS envelopes with message attributes', async () => {
    // Act
    await pipeline.clients.sns.send(
      new PublishCommand({
        TopicArn: pipeline.topicArn,
        Message: JSON.stringify({ jobId: 'job-1' }),
        MessageAttributes: { status: { DataType: 'String', StringValue: 'SUCCEEDED' } },
      }),
    );
    const [envelope] = await pipeline.receiveObserved('sns');

    // Assess
    expect(envelope).toMatchObject({
      Type: 'Notification',
      TopicArn: pipeline.topicArn,
      Message: JSON.stringify({ jobId: 'job-1' }),
      MessageAttributes: { status: { Type: 'String', Value: 'SUCCEEDED' } },
    });
  });

  it('receive the pipeline’s events from the bus and nothing else', async () => {
    // Act
    await pipeline.clients.events.send(
      new PutEventsCommand({
        Entries: [
          { EventBusName: pipeline.eventBusName, Source: 'someone-else', DetailType: 'Noise', Detail: '{}' },
          {
            EventBusName: pipeline.eventBusName,
            Source: EVENTS.source,
            DetailType: EVENTS.jobCompleted,
            Detail: JSON.stringify({ jobId: 'job-1' }),
          },
        ],
      }),
    );
    const events = await pipeline.receiveObserved('events', { min: 2, timeoutMs: 1_000 });

    // Assess
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      source: EVENTS.source,
      'detail-type': EVENTS.jobCompleted,
      detail: { jobId: 'job-1' },
    });
  });
});

describe('Bus rules', () => {
  it('forward an Edit Job Requested event to the submit function through the submit queue', async () => {
    // Prepare
    const request = { prompt: 'make it red', image_urls: ['https://example.com/a.png'] };

    // Act
    await pipeline.clients.events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: pipeline.eventBusName,
            Source: 'integrator.app',
            DetailType: EVENTS.jobRequested,
            Detail: JSON.stringify(request),
          },
        ],
      }),
    );
    await vi.waitFor(() => expect(recorder.calls.submit).toHaveLength(1), { timeout: 10_000 });
    await pipeline.drain();

    // Assess
    const [record] = (recorder.calls.submit[0]!.event as SQSEvent).Records as [SQSRecord];
    expect(record.eventSourceARN).toBe(`arn:aws:sqs:us-east-1:${pipeline.accountId}:${STACK}-submit`);
    expect(JSON.parse(record.body)).toMatchObject({
      source: 'integrator.app',
      'detail-type': EVENTS.jobRequested,
      detail: request,
    });
  });
});

describe('Method: LocalPipeline.stop', () => {
  it('stops every server and restores the environment', async () => {
    // Act
    await pipeline.stop();
    await pipeline.stop();

    // Assess
    for (const name of ['AWS_ENDPOINT_URL', 'AWS_REGION', ENV.jobsTable, ENV.runComfyApiToken]) {
      expect(process.env[name]).toBe(environmentBefore[name]);
    }
    await expect(fetch(pipeline.apiUrl)).rejects.toThrow();
    await expect(fetch(pipeline.awsEndpoint)).rejects.toThrow();
    await expect(fetch(pipeline.simulator!.baseUrl)).rejects.toThrow();
  });
});

async function receiveAll(queueUrl: string) {
  const { Messages = [] } = await pipeline.clients.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: ['All'],
    }),
  );
  return Messages;
}
