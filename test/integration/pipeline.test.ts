import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { SQSEvent } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '#contract/config';
import { useLocalPipeline } from '../support/local-pipeline-fixture.ts';
import {
  cancel,
  getJob,
  PNG_INPUT,
  postEdit,
  s3Bytes,
  sha256,
  waitForJob,
  waitUntil,
} from '../support/pipeline-helpers.ts';

const fixture = useLocalPipeline({
  stackName: 'pipeline-test',
  // A finished run's collection is retried for 1 s (and at least 3 attempts) before it gives up.
  env: { resultRetryWindowSeconds: 1 },
  simulator: { knobs: { queue_delay_s: 0.3, run_delay_s: 0.5, workers: 4 } },
});
const sim = () => fixture.sim;

afterEach(() => {
  sim().reset();
});

/** The upstream request id of a job, once RunComfy accepted it. */
const requestIdOf = (jobId: string) =>
  waitUntil(async () => (await getJob(fixture.pipeline, jobId)).upstream_request_id ?? undefined);

describe('Pipeline: a successful edit', () => {
  it('copies the one output into the bucket, byte for byte, and notifies SNS and EventBridge', async () => {
    // Act
    const submitted = await postEdit(fixture.pipeline, {
      prompt: 'make the cup red',
      image_urls: [PNG_INPUT],
      seed: 7,
    });
    const id = String(submitted.body.id);
    const job = await waitForJob(fixture.pipeline, id);

    // Assess: the HTTP answer
    expect(submitted.status).toBe(202);
    expect(submitted.headers.get('location')).toBe(`/edits/${id}`);
    expect(submitted.body).toMatchObject({
      status: 'queued',
      input: { prompt: 'make the cup red', seed: 7 },
    });

    // Assess: the job and its output
    expect(job.status).toBe('succeeded');
    expect(job.outputs).toHaveLength(1);
    const [output] = job.outputs!;
    expect(output).toMatchObject({
      index: 0,
      bucket: fixture.pipeline.bucket,
      key: `edits/${id}/0.png`,
      s3_uri: `s3://${fixture.pipeline.bucket}/edits/${id}/0.png`,
      content_type: 'image/png',
    });
    const upstream = sim().job(job.upstream_request_id!)!;
    const original = Buffer.from(await (await fetch(upstream.output_urls[0]!)).arrayBuffer());
    const stored = await s3Bytes(fixture.pipeline, output!.bucket, output!.key);
    expect(stored.equals(original)).toBe(true);
    expect(output!.sha256).toBe(sha256(original));
    expect(output!.size_bytes).toBe(original.length);
    const head = await fixture.pipeline.clients.s3.send(
      new HeadObjectCommand({ Bucket: output!.bucket, Key: output!.key }),
    );
    expect(head.ContentType).toBe('image/png');

    // Assess: a presigned URL that serves the same bytes
    const presigned = Buffer.from(await (await fetch(output!.url!)).arrayBuffer());
    expect(presigned.equals(original)).toBe(true);

    // Assess: one notification on each channel, with a stable event id
    const { sns, events } = await fixture.notifications.completionOf(id);
    expect(sns).toHaveLength(1);
    expect(events).toHaveLength(1);
    expect(sns[0]!.body).toMatchObject({ event_id: `${id}:succeeded`, job: { id, status: 'succeeded' } });
    expect(sns[0]!.attributes?.status?.Value).toBe('succeeded');
    expect(events[0]!.detail.event_id).toBe(`${id}:succeeded`);
    expect(events[0]!.detail.job?.outputs?.[0]?.sha256).toBe(sha256(original));
  });

  it('passes four input images and copies four outputs concurrently', async () => {
    // Prepare: RunComfy answering with an `images` array of four files
    sim().setKnobs({ output_key: 'images', output_count: 4 });
    const inputs = [1, 2, 3, 4].map((n) => `https://inputs.example.com/${n}.png`);

    // Act
    const submitted = await postEdit(fixture.pipeline, {
      prompt: 'merge them',
      image_urls: inputs,
      output_format: 'webp',
      image_size: 'landscape_4_3',
    });
    const job = await waitForJob(fixture.pipeline, String(submitted.body.id));

    // Assess
    expect(job.status).toBe('succeeded');
    const upstream = sim().job(job.upstream_request_id!)!;
    expect(upstream.input.image_urls).toEqual(inputs);
    expect(job.outputs?.map((output) => output.key)).toEqual(
      [0, 1, 2, 3].map((n) => `edits/${job.id}/${n}.webp`),
    );
    for (const [index, output] of job.outputs!.entries()) {
      const original = Buffer.from(await (await fetch(upstream.output_urls[index]!)).arrayBuffer());
      expect(sha256(await s3Bytes(fixture.pipeline, output.bucket, output.key))).toBe(sha256(original));
      expect(output.sha256).toBe(sha256(original));
      expect(output.content_type).toBe('image/webp');
    }
  });
});

describe('Pipeline: invalid requests', () => {
  const valid = { prompt: 'make it red', image_urls: [PNG_INPUT] };

  it.each([
    ['missing prompt', { image_urls: [PNG_INPUT] }, 'prompt'],
    ['empty prompt', { ...valid, prompt: '' }, 'prompt'],
    ['no images', { ...valid, image_urls: [] }, 'image_urls'],
    ['five images', { ...valid, image_urls: Array(5).fill(PNG_INPUT) }, 'image_urls'],
    ['an http image', { ...valid, image_urls: ['http://inputs.example.com/a.png'] }, 'image_urls/0'],
    ['guidance_scale 21', { ...valid, guidance_scale: 21 }, 'guidance_scale'],
    ['a float seed', { ...valid, seed: 1.5 }, 'seed'],
    ['image_size huge', { ...valid, image_size: 'huge' }, 'image_size'],
    ['output_format gif', { ...valid, output_format: 'gif' }, 'output_format'],
    [
      'an s3 input outside the uploads',
      { ...valid, image_urls: ['s3://someone-elses-bucket/a.png'] },
      'image_urls/0',
    ],
  ])('answers %s with 400 problem+json naming the field, and makes no job', async (_name, body, path) => {
    const before = sim().stats().jobs_created;

    const response = await postEdit(fixture.pipeline, body);

    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.body).toMatchObject({ status: 400, code: 'INVALID_REQUEST' });
    expect((response.body.errors as { path: string }[]).map((error) => error.path)).toEqual([path]);
    expect(sim().stats().jobs_created).toBe(before);
  });

  it('answers a body that is not JSON with 400, and the wrong media type with 415', async () => {
    const notJson = await postEdit(fixture.pipeline, '{"prompt": ');
    const wrongType = await postEdit(fixture.pipeline, JSON.stringify(valid), {
      'content-type': 'text/plain',
    });

    expect(notJson.status).toBe(400);
    expect(notJson.body.code).toBe('INVALID_REQUEST');
    expect(wrongType.status).toBe(415);
  });

  it('refuses unknown keys, so a misspelt option is not silently ignored', async () => {
    const response = await postEdit(fixture.pipeline, { ...valid, imageSize: 'square' });
    expect(response.status).toBe(400);
    expect(JSON.stringify(response.body.errors)).toContain('imageSize');
  });
});

describe('Pipeline: idempotent submission', () => {
  it('returns the first job for a retried request with the same Idempotency-Key, and refuses another body', async () => {
    const key = `key-${Date.now()}`;
    const body = { prompt: 'once only', image_urls: [PNG_INPUT] };

    const first = await postEdit(fixture.pipeline, body, { 'idempotency-key': key });
    const again = await postEdit(fixture.pipeline, body, { 'idempotency-key': key });
    const other = await postEdit(
      fixture.pipeline,
      { ...body, prompt: 'something else' },
      { 'idempotency-key': key },
    );

    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(other.status).toBe(422);
    expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    await waitForJob(fixture.pipeline, String(first.body.id));
    expect(
      sim()
        .jobs()
        .filter((job) => job.input.prompt === 'once only'),
    ).toHaveLength(1);
  });
});

describe('Pipeline: upstream failures', () => {
  it('records a failed upstream job as UPSTREAM_FAILED and notifies', async () => {
    const submitted = await postEdit(fixture.pipeline, {
      prompt: 'this will __FAIL__',
      image_urls: [PNG_INPUT],
    });
    const id = String(submitted.body.id);

    const job = await waitForJob(fixture.pipeline, id);

    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'UPSTREAM_FAILED' });
    expect(job.outputs).toBeUndefined();
    const { sns } = await fixture.notifications.completionOf(id);
    expect(sns).toHaveLength(1);
    expect(sns[0]!.attributes?.status?.Value).toBe('failed');
  });

  it('rides out 5xx and 429 answers while polling', async () => {
    // Prepare
    sim().failNext({ endpoint: 'status', status: 503, times: 2 });
    sim().failNext({ endpoint: 'status', status: 429, times: 2, retry_after_s: 1 });
    sim().failNext({ endpoint: 'result', status: 500, times: 1 });

    // Act
    const submitted = await postEdit(fixture.pipeline, { prompt: 'flaky upstream', image_urls: [PNG_INPUT] });
    const job = await waitForJob(fixture.pipeline, String(submitted.body.id));

    // Assess
    expect(job.status).toBe('succeeded');
    expect(sim().faults()).toEqual([]);
  });

  it('answers 202 and retries the submission later when RunComfy refuses it for now', async () => {
    sim().failNext({ endpoint: 'submit', status: 503, times: 1 });

    const submitted = await postEdit(fixture.pipeline, {
      prompt: 'submit again later',
      image_urls: [PNG_INPUT],
    });
    const job = await waitForJob(fixture.pipeline, String(submitted.body.id));

    expect(submitted.status).toBe(202);
    expect(submitted.body).toMatchObject({ status: 'queued' });
    // A free slot is taken at once; with every slot busy the job waits in line
    expect(['submitting', 'waiting']).toContain(submitted.body.phase);
    expect(job.status).toBe('succeeded');
    expect(
      sim()
        .jobs()
        .filter((upstream) => upstream.input.prompt === 'submit again later'),
    ).toHaveLength(1);
  });

  it('never resubmits when the submission’s answer is lost, and fails the job UPSTREAM_LOST', async () => {
    sim().failNext({ endpoint: 'submit', drop: 'after', times: 1 });

    const submitted = await postEdit(fixture.pipeline, { prompt: 'answer lost', image_urls: [PNG_INPUT] });
    const job = await waitForJob(fixture.pipeline, String(submitted.body.id));

    expect(job.status).toBe('failed');
    expect(job.error?.code).toBe('UPSTREAM_LOST');
    // RunComfy made (and charged) exactly one job: no blind second submission.
    expect(
      sim()
        .jobs()
        .filter((upstream) => upstream.input.prompt === 'answer lost'),
    ).toHaveLength(1);
  });

  it('fails a job RunComfy rejects as UPSTREAM_REJECTED without retrying', async () => {
    sim().setKnobs({ tokens: { 'another-token': 'u2' } });

    const submitted = await postEdit(fixture.pipeline, { prompt: 'bad token', image_urls: [PNG_INPUT] });
    const job = await waitForJob(fixture.pipeline, String(submitted.body.id));

    expect(job.status).toBe('failed');
    expect(job.error?.code).toBe('UPSTREAM_REJECTED');
    expect(job.error?.upstream).toMatchObject({ kind: 'auth' });
  });
});

describe('Pipeline: outputs that cannot be copied', () => {
  it('fails the job OUTPUT_COPY_FAILED when RunComfy’s output stays gone through every retry, and notifies', async () => {
    sim().setKnobs({ output_ttl_s: 0 });

    const submitted = await postEdit(fixture.pipeline, { prompt: 'output expired', image_urls: [PNG_INPUT] });
    const id = String(submitted.body.id);
    const job = await waitForJob(fixture.pipeline, id);

    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'OUTPUT_COPY_FAILED' });
    expect(job.error?.message).toMatch(/404/);
    // A paid output is not given up on one 404: each attempt is on record.
    const attempts = (job.error as { attempts?: { reason: string; httpStatus?: number }[] }).attempts ?? [];
    expect(attempts.length).toBeGreaterThanOrEqual(3);
    expect(
      attempts.every((attempt) => attempt.reason === 'download_failed' && attempt.httpStatus === 404),
    ).toBe(true);
    expect(job.outputs).toBeUndefined();
    const { sns } = await fixture.notifications.completionOf(id);
    expect(sns[0]!.body.job.error.code).toBe('OUTPUT_COPY_FAILED');
  });
});

describe('Pipeline: cancelling', () => {
  it('cancels a queued job upstream and notifies', async () => {
    // Prepare: RunComfy's queue does not move until the test says so
    sim().setKnobs({ clock_mode: 'manual' });
    const submitted = await postEdit(fixture.pipeline, { prompt: 'cancel me', image_urls: [PNG_INPUT] });
    const id = String(submitted.body.id);
    const requestId = await requestIdOf(id);

    // Act
    const cancelled = await cancel(fixture.pipeline, id);

    // Assess
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ id, status: 'cancelled' });
    expect(sim().job(requestId)?.state).toBe('cancelled');
    expect((await getJob(fixture.pipeline, id)).status).toBe('cancelled');
    const { sns } = await fixture.notifications.completionOf(id);
    expect(sns[0]!.body.event_id).toBe(`${id}:cancelled`);
  });

  it('records a cancel RunComfy cannot take now (202), and carries it out with the next status check', async () => {
    // Prepare: RunComfy's queue does not move, and its cancel endpoint fails for a while
    sim().setKnobs({ clock_mode: 'manual' });
    const submitted = await postEdit(fixture.pipeline, {
      prompt: 'cancel me later',
      image_urls: [PNG_INPUT],
    });
    const id = String(submitted.body.id);
    const requestId = await requestIdOf(id);
    sim().failNext({ endpoint: 'cancel', status: 503, times: 2 });

    // Act
    const requested = await cancel(fixture.pipeline, id);
    // (the next status check of a job queued upstream comes within MAX_POLL_DELAY_SECONDS)
    const job = await waitForJob(fixture.pipeline, id, undefined, 60_000);

    // Assess: never a 5xx; the job ends cancelled once RunComfy answers again
    expect(requested.status).toBe(202);
    expect(requested.body).toMatchObject({ id, status: 'queued', cancel_requested_at: expect.any(String) });
    expect(job.status).toBe('cancelled');
    expect(sim().job(requestId)?.state).toBe('cancelled');
    const { sns } = await fixture.notifications.completionOf(id);
    expect(sns).toHaveLength(1);
  });

  it('answers 409 NOT_CANCELLABLE for a running job, which then finishes normally', async () => {
    sim().setKnobs({ clock_mode: 'manual' });
    const submitted = await postEdit(fixture.pipeline, {
      prompt: 'already running',
      image_urls: [PNG_INPUT],
    });
    const id = String(submitted.body.id);
    const requestId = await requestIdOf(id);
    sim().transition(requestId, 'running');

    const refused = await cancel(fixture.pipeline, id);
    sim().transition(requestId, 'succeeded');
    const job = await waitForJob(fixture.pipeline, id);

    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'NOT_CANCELLABLE', status: 409 });
    expect(job.status).toBe('succeeded');
  });

  it('serves its OpenAPI document', async () => {
    const response = await fetch(`${fixture.pipeline.apiUrl}/openapi.json`);
    const document = (await response.json()) as { openapi: string; paths: Record<string, unknown> };

    expect(response.status).toBe(200);
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toContain('/edits/{id}/cancel');
  });

  it('answers 404 for an unknown job', async () => {
    const response = await cancel(fixture.pipeline, 'no-such-job');
    const read = await fetch(`${fixture.pipeline.apiUrl}/edits/no-such-job`);

    expect(response.status).toBe(404);
    expect(read.status).toBe(404);
    expect(read.headers.get('content-type')).toBe('application/problem+json');
  });
});

describe('Pipeline: duplicate deliveries', () => {
  it('turns the same result message delivered twice into one transition and one notification', async () => {
    // Prepare: a job finished upstream, whose result message is then delivered twice at once
    sim().setKnobs({ clock_mode: 'manual' });
    const submitted = await postEdit(fixture.pipeline, {
      prompt: 'delivered twice',
      image_urls: [PNG_INPUT],
    });
    const id = String(submitted.body.id);
    const requestId = await requestIdOf(id);
    sim().transition(requestId, 'succeeded');
    const body = JSON.stringify({ jobId: id, attempt: 0 });
    const record = (messageId: string) => ({
      messageId,
      receiptHandle: messageId,
      body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(Date.now()),
        SenderId: 'local',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:pipeline-test-result',
      awsRegion: 'us-east-1',
    });
    const event: SQSEvent = { Records: [record('m-1'), record('m-1')] };

    // Act: twice at once, then once more after the fact
    await fixture.pipeline.invoke('result', event);
    await fixture.pipeline.invoke('result', { Records: [record('m-1')] });
    const job = await waitForJob(fixture.pipeline, id);
    await fixture.pipeline.drain();

    // Assess
    expect(job.status).toBe('succeeded');
    const { sns, events } = await fixture.notifications.completionOf(id);
    expect(sns).toHaveLength(1);
    expect(events).toHaveLength(1);
  });

  it('drops stale and duplicated poll messages instead of forking the poll chain', async () => {
    // Prepare: a job whose poll chain has moved past its first heartbeats
    sim().setKnobs({ clock_mode: 'manual' });
    const submitted = await postEdit(fixture.pipeline, { prompt: 'polled twice', image_urls: [PNG_INPUT] });
    const id = String(submitted.body.id);
    const requestId = await requestIdOf(id);
    // Imported here, after the fixture.pipeline set the environment the Lambda modules read at load.
    const { createJobDeps } = await import('#shared/job-deps');
    const { pollJob } = await import('#core/jobs/poll-job');
    const { RunComfyClient } = await import('#core/runcomfy/client');
    const deps = createJobDeps(loadConfig(), 'poller', { runComfyClient: RunComfyClient });
    const moved = await waitUntil(async () => {
      const job = await deps.store.get(id);
      return job && job.pollCount >= 2 ? job : undefined;
    });

    // Act: the chain's first message again, and the current one under a second message id
    const statusCallsBefore = sim().stats().by_endpoint.status;
    const stale = await pollJob(deps, { jobId: id, seq: 0 }, 'replayed-first-message');
    const current = await deps.store.get(id);
    const duplicate = await pollJob(deps, { jobId: id, seq: current!.pollCount - 1 }, 'another-message-id');

    // Assess: both dropped before asking RunComfy; the job then finishes once
    expect(moved.pollCount).toBeGreaterThanOrEqual(2);
    expect([stale, duplicate]).toEqual(['dropped', 'dropped']);
    expect(sim().stats().by_endpoint.status - statusCallsBefore).toBeLessThanOrEqual(1);
    sim().transition(requestId, 'succeeded');
    const job = await waitForJob(fixture.pipeline, id);
    expect(job.status).toBe('succeeded');
    const { sns } = await fixture.notifications.completionOf(id);
    expect(sns).toHaveLength(1);
  });
});
