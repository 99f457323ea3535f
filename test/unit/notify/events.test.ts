import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { AwsNotifier } from '#adapters/aws/aws-notifier';
import type { Job } from '#core/jobs/job';
import type { JobView } from '#core/jobs/job-view';
import { completionEvent, startedEvent, submittedEvent } from '#core/notify/event-builders';
import { type EventJob, JOB_EVENTS, type JobEvent } from '#core/notify/events';
import { announceBestEffort } from '#core/notify/notifier';
import type { Notifier } from '#core/ports';
import { EVENTS } from '../../../contract/index.ts';
import { renderEventSchemas, SCHEMA_DIR } from '../../../scripts/generate-schemas.ts';

const BASE: Job = {
  id: '6f1c2e8a-1b2c-4d5e-8f90-123456789abc',
  status: 'queued',
  input: {
    prompt: 'make the cup red',
    image_urls: ['https://inputs.example.com/cup.png', 's3://flux-uploads/uploads/a.png'],
    guidance_scale: 2.5,
    image_size: 'square_hd',
    output_format: 'png',
  },
  callerReference: 'order-42',
  metadata: { tenant: 'acme', 'trace.id': 'abc' },
  webhookUrl: 'https://hooks.example.com/flux',
  createdAt: '2026-01-02T03:04:05.000Z',
  updatedAt: '2026-01-02T03:04:05.000Z',
  deadlineAt: '2026-01-02T03:19:05.000Z',
  submitAttempts: 1,
  pollCount: 0,
};

const submitted: Job = {
  ...BASE,
  requestId: 'req-1',
  submittedAt: '2026-01-02T03:04:06.000Z',
  updatedAt: '2026-01-02T03:04:06.000Z',
};
const started: Job = {
  ...submitted,
  status: 'running',
  startedAt: '2026-01-02T03:04:09.000Z',
  updatedAt: '2026-01-02T03:04:09.012Z',
  pollCount: 2,
};
const succeeded: Job = {
  ...started,
  status: 'succeeded',
  finishedAt: '2026-01-02T03:04:20.000Z',
  // Written after the finish (notification bookkeeping, webhook attempts): not part of the event.
  updatedAt: '2026-01-02T03:05:00.000Z',
  notifiedAt: '2026-01-02T03:04:21.000Z',
  webhook: { status: 'delivered', attempts: 1, round: 1, lastStatusCode: 204 },
  outputs: [
    {
      index: 0,
      s3Uri: 's3://flux-outputs/edits/6f1c/0.png',
      bucket: 'flux-outputs',
      key: 'edits/6f1c/0.png',
      contentType: 'image/png',
      sizeBytes: 1234,
      sha256: 'a'.repeat(64),
      sourceUrl: 'https://files.runcomfy.net/out/0.png?sig=secret',
    },
  ],
};
const failed: Job = {
  ...started,
  status: 'failed',
  finishedAt: '2026-01-02T03:04:30.000Z',
  error: { code: 'UPSTREAM_FAILED', message: 'boom', upstream: { code: 'E1', http_status: 500 } },
};
const expired: Job = {
  ...submitted,
  status: 'expired',
  callerReference: undefined,
  metadata: undefined,
  webhookUrl: undefined,
  finishedAt: '2026-01-02T03:19:05.000Z',
  error: { code: 'DEADLINE_EXCEEDED', message: 'late', upstream: { cancel_outcome: 'cancelled' } },
};
const cancelled: Job = { ...BASE, status: 'cancelled', finishedAt: '2026-01-02T03:04:07.000Z' };
/** What rejectSubmission records: the raw request as input, the field errors on the error. */
const rejected: Job = {
  ...BASE,
  status: 'failed',
  input: { prompt: 42, imageUrls: ['x'] } as unknown as Job['input'],
  metadata: undefined,
  webhookUrl: undefined,
  finishedAt: BASE.createdAt,
  error: {
    code: 'INVALID_REQUEST',
    message: 'edit request is invalid',
    issues: [{ path: 'prompt', message: 'must be a string' }],
  },
};

/** Runs the events through the real notifier with clients that record what they were sent. */
async function publishThroughNotifier(jobs: { completed: Job[]; submitted: Job[]; started: Job[] }) {
  const sent = { sns: [] as PublishCommand[], events: [] as PutEventsCommand[] };
  const sns = { send: async (command: PublishCommand) => sent.sns.push(command) } as unknown as SNSClient;
  const events = {
    send: async (command: PutEventsCommand) => {
      sent.events.push(command);
      return { FailedEntryCount: 0, Entries: [{ EventId: '1' }] };
    },
  } as unknown as EventBridgeClient;
  const notifier = new AwsNotifier(sns, events, {
    topicArn: 'arn:aws:sns:us-east-1:1:t',
    eventBusName: 'bus',
  });
  for (const job of jobs.submitted) await notifier.announce(submittedEvent(job));
  for (const job of jobs.started) await notifier.announce(startedEvent(job));
  for (const job of jobs.completed) await notifier.completed(job);
  return sent;
}

const committedSchema = (file: string) =>
  JSON.parse(readFileSync(resolve(SCHEMA_DIR, `${file}.schema.json`), 'utf8')) as Record<string, unknown>;

describe('Event JSON Schemas (schemas/events)', () => {
  it('are up to date with functions/core/notify/events.ts (run `npm run schemas` if not)', () => {
    // Act
    const rendered = renderEventSchemas();

    // Assess
    expect([...rendered.keys()].sort()).toEqual(
      Object.values(JOB_EVENTS)
        .map(({ file }) => `${file}.schema.json`)
        .sort(),
    );
    for (const [file, schema] of rendered) {
      expect(committedSchema(file.replace('.schema.json', '')), file).toEqual(schema);
    }
  });

  it('describe every event the notifier really sends, to EventBridge and SNS', async () => {
    // Act
    const sent = await publishThroughNotifier({
      submitted: [submitted],
      started: [started],
      completed: [succeeded, failed, expired, cancelled, rejected],
    });

    // Assess
    const documents = [
      ...sent.events.map((command) => {
        const entry = command.input.Entries?.[0];
        return { detailType: entry?.DetailType, event: JSON.parse(entry?.Detail ?? 'null') as JobEvent };
      }),
      ...sent.sns.map((command) => ({
        detailType: EVENTS.jobCompleted,
        event: JSON.parse(command.input.Message ?? 'null') as JobEvent,
      })),
    ];
    expect(documents).toHaveLength(12);
    for (const { detailType, event } of documents) {
      const { file, schema } = JOB_EVENTS[event.type];
      expect(detailType).toBe(JOB_EVENTS[event.type].detailType);
      // Against the committed JSON Schema, as a consumer would check it.
      const fromJsonSchema = z.fromJSONSchema(committedSchema(file) as z.core.JSONSchema.JSONSchema);
      expect(fromJsonSchema.safeParse(event).error, `${event.event_id}`).toBeUndefined();
      // And strictly against the source: nothing in the event that the schema does not describe.
      expect(z.parse(schema, event), `${event.event_id}`).toEqual(event);
    }
  });

  it('refuse documents that break them', () => {
    // Prepare
    const schema = z.fromJSONSchema(committedSchema('edit-job-completed') as z.core.JSONSchema.JSONSchema);
    const event = JSON.parse(JSON.stringify(completionEvent(succeeded)));

    // Act & Assess
    expect(schema.safeParse(event).success).toBe(true);
    expect(schema.safeParse({ ...event, status: 'running' }).success).toBe(false);
    expect(schema.safeParse({ ...event, occurred_at: 'yesterday' }).success).toBe(false);
    expect(
      schema.safeParse({ ...event, job: { ...event.job, error: { code: 'NOPE', message: '' } } }).success,
    ).toBe(false);
    // Open to additions, so that a consumer keeps working when a field is added.
    expect(schema.safeParse({ ...event, added_later: true }).success).toBe(true);
  });
});

describe('Function: completionEvent', () => {
  it('is the same document whenever it is built, with the fields to filter on at the top', () => {
    // Act
    const event = completionEvent(succeeded);
    const later = completionEvent({
      ...succeeded,
      updatedAt: '2026-01-03T00:00:00.000Z',
      webhook: undefined,
    });

    // Assess
    expect(later).toEqual(event);
    expect(event).toMatchObject({
      event_id: `${succeeded.id}:succeeded`,
      type: 'edit.job.completed',
      status: 'succeeded',
      occurred_at: succeeded.finishedAt,
      job_id: succeeded.id,
      caller_reference: 'order-42',
      metadata: { tenant: 'acme', 'trace.id': 'abc' },
      job: { id: succeeded.id, status: 'succeeded', updated_at: succeeded.finishedAt },
    });
    expect(event.job).not.toHaveProperty('webhook');
    expect(JSON.stringify(event)).not.toContain('sig=secret');
  });

  it('refuses a job that has not ended', () => {
    // Act & Assess
    expect(() => completionEvent(started)).toThrow(/has not ended/);
  });
});

describe('Functions: submittedEvent, startedEvent', () => {
  it('carry stable ids, the status they mark and the caller’s fields', () => {
    // Act
    const submittedDocument = submittedEvent(submitted);
    const startedDocument = startedEvent(started);

    // Assess
    expect(submittedDocument).toMatchObject({
      event_id: `${BASE.id}:submitted`,
      type: 'edit.job.submitted',
      status: 'queued',
      occurred_at: submitted.submittedAt,
      caller_reference: 'order-42',
      metadata: BASE.metadata,
      job: { upstream_request_id: 'req-1', phase: 'queued' },
    });
    expect(startedDocument).toMatchObject({
      event_id: `${BASE.id}:started`,
      type: 'edit.job.started',
      status: 'running',
      occurred_at: started.startedAt,
      job: { started_at: started.startedAt, status: 'running' },
    });
  });

  it('refuse a job that has not reached the state they announce', () => {
    // Act & Assess
    expect(() => submittedEvent(BASE)).toThrow(/no submittedAt/);
    expect(() => startedEvent(submitted)).toThrow(/no startedAt/);
  });

  it('describe the job view the HTTP API shows, minus what is the API’s own', () => {
    // Assess: every job view the code can build fits the events' job schema.
    type ApiOnly = 'webhook' | 'outputs' | 'error';
    expectTypeOf<Omit<JobView, ApiOnly>>().toExtend<Omit<EventJob, ApiOnly>>();
    expectTypeOf<Omit<EventJob, ApiOnly | 'input'>>().toEqualTypeOf<Omit<JobView, ApiOnly | 'input'>>();
  });
});

describe('Function: announceBestEffort', () => {
  it('logs and counts a refused event instead of failing the work', async () => {
    // Prepare
    const warnings: string[] = [];
    const counted: string[] = [];
    const notifier: Notifier = {
      completed: async () => {},
      announce: async () => {
        throw new Error('EventBridge is down');
      },
    };

    // Act
    await announceBestEffort(
      {
        notifier,
        log: { debug() {}, info() {}, warn: (message) => warnings.push(message), error() {} },
        metrics: { count: (name) => counted.push(name) },
      },
      submitted.id,
      () => submittedEvent(submitted),
    );

    // Assess
    expect(warnings).toEqual(['lifecycle event not published']);
    expect(counted).toEqual(['LifecycleEventsFailed']);
  });
});

describe('Class: AwsNotifier', () => {
  it('keeps SNS for completions, with the attributes subscription filters use', async () => {
    // Act
    const sent = await publishThroughNotifier({
      submitted: [submitted],
      started: [started],
      completed: [succeeded],
    });

    // Assess
    expect(sent.sns).toHaveLength(1);
    expect(sent.sns[0]?.input.MessageAttributes).toEqual({
      status: { DataType: 'String', StringValue: 'succeeded' },
      job_id: { DataType: 'String', StringValue: succeeded.id },
      event_id: { DataType: 'String', StringValue: `${succeeded.id}:succeeded` },
      caller_reference: { DataType: 'String', StringValue: 'order-42' },
    });
    expect(sent.events.map((command) => command.input.Entries?.[0])).toMatchObject([
      { Source: EVENTS.source, DetailType: EVENTS.jobSubmitted, Time: new Date(submitted.submittedAt!) },
      { Source: EVENTS.source, DetailType: EVENTS.jobStarted, Time: new Date(started.startedAt!) },
      { Source: EVENTS.source, DetailType: EVENTS.jobCompleted, Time: new Date(succeeded.finishedAt!) },
    ]);
  });
});
