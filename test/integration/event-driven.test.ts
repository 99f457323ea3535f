import { readFileSync } from 'node:fs';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobView } from '#core/jobs/job-view';
import { EVENTS } from '../../contract/index.ts';
import { useLocalPipeline } from '../support/local-pipeline-fixture.ts';
import { PNG_INPUT, postEdit, waitForJob, waitUntil } from '../support/pipeline-helpers.ts';

const sample = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../events/${name}`, import.meta.url), 'utf8'));

/** Every way in besides HTTP: the submission queue, the EventBridge rule, a direct invoke; and s3:// inputs. */
const fixture = useLocalPipeline({
  stackName: 'event-test',
  simulator: { knobs: { queue_delay_s: 0.2, run_delay_s: 0.3, workers: 4 } },
});
const sim = () => fixture.sim;

afterEach(() => {
  sim().reset({ knobs: { allow_http_inputs: true } });
});

/** The completion event of the job with this caller reference, once it arrived. */
async function completionByReference(reference: string) {
  return waitUntil(async () => {
    await fixture.notifications.collect(500);
    const event = fixture.notifications.events.find(
      (candidate) =>
        candidate['detail-type'] === EVENTS.jobCompleted &&
        candidate.detail.job?.caller_reference === reference,
    );
    return event?.detail.job;
  }, 25_000);
}

describe('Submission: the submit queue', () => {
  it('runs an edit sent as a queue message, echoing the caller reference and metadata', async () => {
    await fixture.pipeline.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: fixture.pipeline.queues.submit,
        MessageBody: JSON.stringify({
          prompt: 'from the queue',
          image_urls: [PNG_INPUT],
          caller_reference: 'queue-1',
          metadata: { order: '42' },
        }),
      }),
    );

    const job = (await completionByReference('queue-1')) as JobView;

    expect(job).toMatchObject({ status: 'succeeded', metadata: { order: '42' } });
    expect(job.outputs).toHaveLength(1);
    // (the event on the bus can be seen before the SNS copy reaches its observer queue: wait for both)
    const { sns } = await fixture.notifications.completionOf(job.id);
    expect(sns[0]!.attributes?.caller_reference?.Value).toBe('queue-1');
  });

  it('turns an invalid queued request into a failed job event, not a retry loop', async () => {
    await fixture.pipeline.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: fixture.pipeline.queues.submit,
        MessageBody: JSON.stringify({ prompt: 'bad', image_urls: [], caller_reference: 'queue-bad' }),
      }),
    );

    const job = (await completionByReference('queue-bad')) as JobView;
    await fixture.pipeline.drain();

    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'INVALID_REQUEST', issues: [{ path: 'image_urls' }] });
    expect(sim().stats().jobs_created).toBe(0);
    // Acknowledged, not retried into the DLQ: retrying cannot make it valid.
    const dlq = await fixture.pipeline.clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: fixture.pipeline.queues.submitDlq,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    expect(dlq.Attributes).toMatchObject({
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '0',
    });
  });
});

describe('Submission: the EventBridge rule', () => {
  it('runs an edit put on the bus as an `Edit Job Requested` event', async () => {
    const event = sample('submit-eventbridge.json');
    await fixture.pipeline.clients.events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: fixture.pipeline.eventBusName,
            Source: 'com.example.orders',
            DetailType: EVENTS.jobRequested,
            Detail: JSON.stringify({ ...event.detail, image_urls: [PNG_INPUT], caller_reference: 'bus-1' }),
          },
        ],
      }),
    );

    const job = (await completionByReference('bus-1')) as JobView;

    expect(job).toMatchObject({ status: 'succeeded', metadata: { customer: 'c-42' } });
  });
});

describe('Submission: direct invoke and the console sample events', () => {
  it('accepts the direct-invoke sample as it is', async () => {
    const result = (await fixture.pipeline.invoke('submit', sample('submit-direct-invoke.json'))) as {
      job: JobView;
    };

    expect(result.job).toMatchObject({ status: 'queued', caller_reference: 'console-test-1' });
    expect((await waitForJob(fixture.pipeline, result.job.id)).status).toBe('succeeded');
  });

  it('accepts the SQS, EventBridge and API Gateway samples', async () => {
    const sqs = await fixture.pipeline.invoke('submit', sample('submit-sqs.json'));
    const bus = (await fixture.pipeline.invoke('submit', sample('submit-eventbridge.json'))) as {
      job: JobView;
    };
    const http = (await fixture.pipeline.invoke('submit', sample('api-post-edits.json'))) as {
      statusCode: number;
    };

    expect(sqs).toEqual({ batchItemFailures: [] });
    expect(bus.job).toMatchObject({ status: 'queued', caller_reference: 'order-5678' });
    expect(http.statusCode).toBe(202);
  });

  it('answers an invalid direct invoke with the failed job and its field errors', async () => {
    const result = (await fixture.pipeline.invoke('submit', { prompt: 'no images' })) as { job: JobView };

    expect(result.job).toMatchObject({ status: 'failed', error: { code: 'INVALID_REQUEST' } });
  });

  it('treats a redelivered queue message as the same job, not a second paid one', async () => {
    // Earlier tests' jobs reach RunComfy through their poll chains: let them, then start afresh.
    await fixture.pipeline.drain();
    sim().reset();
    const event = sample('submit-sqs.json');
    event.Records[0].messageId = 'redelivered-message';

    await fixture.pipeline.invoke('submit', event);
    await fixture.pipeline.invoke('submit', event);
    await fixture.pipeline.drain();

    expect(
      sim()
        .jobs()
        .filter((job) => job.input.prompt.startsWith('Change the flowers')),
    ).toHaveLength(1);
  });
});

describe('Inputs from S3', () => {
  it('uploads a local image through POST /uploads and edits it from its s3:// URI', async () => {
    // Prepare: RunComfy really fetches (and decodes) the presigned input URL
    sim().setKnobs({ fetch_inputs: true });
    const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#c33' } })
      .png()
      .toBuffer();

    // Act: ask for an upload, PUT the bytes, submit the s3:// URI
    const ticketResponse = await fetch(`${fixture.pipeline.apiUrl}/uploads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content_type: 'image/png', size_bytes: png.length, filename: 'cup.png' }),
    });
    const ticket = (await ticketResponse.json()) as {
      upload_url: string;
      headers: Record<string, string>;
      s3_uri: string;
    };
    const put = await fetch(ticket.upload_url, { method: 'PUT', headers: ticket.headers, body: png });
    const submitted = await postEdit(fixture.pipeline, {
      prompt: 'edit my upload',
      image_urls: [ticket.s3_uri],
    });
    const job = await waitForJob(fixture.pipeline, String(submitted.body.id));

    // Assess
    expect(ticketResponse.status).toBe(201);
    expect(ticket.s3_uri).toMatch(new RegExp(`^s3://${fixture.pipeline.bucket}/uploads/.+/cup\\.png$`));
    expect(put.status).toBe(200);
    expect(job.status).toBe('succeeded');
    expect(job.input.image_urls).toEqual([ticket.s3_uri]);
    const upstream = sim().job(job.upstream_request_id!)!;
    expect(upstream.input.image_urls[0]).toMatch(/X-Amz-Signature=/);
  });

  it('refuses an upload that is not an image type or is too large', async () => {
    const response = await fetch(`${fixture.pipeline.apiUrl}/uploads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content_type: 'text/html', size_bytes: 60 * 1024 * 1024 }),
    });
    const body = (await response.json()) as { errors: { path: string }[] };

    expect(response.status).toBe(400);
    expect(body.errors.map((error) => error.path).sort()).toEqual(['content_type', 'size_bytes']);
  });
});
