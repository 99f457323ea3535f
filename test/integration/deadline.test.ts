import { afterEach, describe, expect, it } from 'vitest';
/** A pipeline whose jobs get four seconds, so that expiry is quick to see. */
import { useLocalPipeline } from '../support/local-pipeline-fixture.ts';
import { getJob, PNG_INPUT, postEdit, waitForJob, waitUntil } from '../support/pipeline-helpers.ts';

const fixture = useLocalPipeline({
  stackName: 'deadline-test',
  env: { jobDeadlineSeconds: 4 },
  simulator: { knobs: { queue_delay_s: 0.2, run_delay_s: 0.5 } },
});
const sim = () => fixture.sim;

afterEach(() => {
  sim().reset();
});

describe('Pipeline: deadlines', () => {
  it('expires a job still queued upstream, cancels it there, and notifies', async () => {
    // Prepare: RunComfy's queue never moves
    sim().setKnobs({ clock_mode: 'manual' });

    // Act
    const submitted = await postEdit(fixture.pipeline, {
      prompt: 'stuck in the queue',
      image_urls: [PNG_INPUT],
    });
    const id = String(submitted.body.id);
    const job = await waitForJob(
      fixture.pipeline,
      id,
      ['expired', 'succeeded', 'failed', 'cancelled'],
      20_000,
    );

    // Assess
    expect(job.status).toBe('expired');
    expect(job.error).toMatchObject({ code: 'DEADLINE_EXCEEDED', upstream: { cancel_outcome: 'cancelled' } });
    expect(sim().job(job.upstream_request_id!)?.state).toBe('cancelled');
    const { sns, events } = await fixture.notifications.completionOf(id);
    expect(sns).toHaveLength(1);
    expect(events[0]!.detail.event_id).toBe(`${id}:expired`);
  });

  it('expires a job that runs past its deadline (RunComfy cannot cancel running jobs)', async () => {
    const submitted = await postEdit(fixture.pipeline, {
      prompt: 'runs forever __STALL__',
      image_urls: [PNG_INPUT],
    });
    const id = String(submitted.body.id);
    await waitUntil(async () =>
      (await getJob(fixture.pipeline, id)).status === 'running' ? true : undefined,
    );

    const job = await waitForJob(
      fixture.pipeline,
      id,
      ['expired', 'succeeded', 'failed', 'cancelled'],
      20_000,
    );

    expect(job.status).toBe('expired');
    expect(job.error).toMatchObject({
      code: 'DEADLINE_EXCEEDED',
      upstream: { cancel_outcome: 'not_cancellable' },
    });
    expect(sim().job(job.upstream_request_id!)?.state).toBe('running');
  });

  it('still collects a run that ended by the time the deadline check looks (it was paid for)', async () => {
    // Prepare: RunComfy finishes the job, but its status endpoint fails until the deadline has passed
    sim().setKnobs({ clock_mode: 'manual' });
    const submitted = await postEdit(fixture.pipeline, {
      prompt: 'done just in time',
      image_urls: [PNG_INPUT],
    });
    const id = String(submitted.body.id);
    const requestId = await waitUntil(async () => (await getJob(fixture.pipeline, id)).upstream_request_id);
    sim().failNext({ endpoint: 'status', status: 503, times: 3 });
    sim().transition(requestId, 'succeeded');

    // Act
    const job = await waitForJob(
      fixture.pipeline,
      id,
      ['expired', 'succeeded', 'failed', 'cancelled'],
      20_000,
    );

    // Assess
    expect(job.status).toBe('succeeded');
    expect(Date.parse(job.finished_at!)).toBeGreaterThan(Date.parse(job.deadline_at));
    expect(job.outputs).toHaveLength(1);
  });
});
