import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '#contract/config';
import { useLocalPipeline } from '../support/local-pipeline-fixture.ts';
import { getJob, PNG_INPUT, postEdit, waitForJob } from '../support/pipeline-helpers.ts';
import { strandedJob } from '../support/stranded-job.ts';

/**
 * A pipeline whose jobs get four seconds (and a run in progress four more), and whose sweeper
 * takes over one second after that.
 */
const fixture = useLocalPipeline({
  stackName: 'deadline-test',
  env: { jobDeadlineSeconds: 4, runOvertimeSeconds: 4, sweepGraceSeconds: 1 },
  simulator: { knobs: { queue_delay_s: 0.2, run_delay_s: 0.5 } },
});
const sim = () => fixture.sim;
/** The job once it has ended; expiry takes the deadline plus a poll or two. */
const ended = (id: string) => waitForJob(fixture.pipeline, id, undefined, 20_000);

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
    const job = await ended(id);

    // Assess
    expect(job.status).toBe('expired');
    expect(job.error).toMatchObject({ code: 'DEADLINE_EXCEEDED', upstream: { cancel_outcome: 'cancelled' } });
    expect(sim().job(job.upstream_request_id!)?.state).toBe('cancelled');
    const { sns, events } = await fixture.notifications.completionOf(id);
    expect(sns).toHaveLength(1);
    expect(events[0]!.detail.event_id).toBe(`${id}:expired`);
  });

  it('waits through the overtime for a run in progress at the deadline, then expires it', async () => {
    const submitted = await postEdit(fixture.pipeline, {
      prompt: 'runs forever __STALL__',
      image_urls: [PNG_INPUT],
    });
    const id = String(submitted.body.id);

    const job = await ended(id);

    expect(job.status).toBe('expired');
    expect(job.overtime_until).toBeDefined();
    expect(Date.parse(job.overtime_until!) - Date.parse(job.deadline_at)).toBe(4_000);
    expect(Date.parse(job.finished_at!)).toBeGreaterThanOrEqual(Date.parse(job.overtime_until!));
    expect(job.error).toMatchObject({
      code: 'DEADLINE_EXCEEDED',
      upstream: { cancel_outcome: 'not_cancellable' },
    });
    expect(job.error?.message).toMatch(/waited until/);
    expect(job.upstream_finished_at).toBeUndefined();
    expect(sim().job(job.upstream_request_id!)?.state).toBe('running');
  });

  it('collects a run that RunComfy finishes during the overtime (it cannot be cancelled and is billed)', async () => {
    // Prepare: a run of 5.5 s against a deadline of 4 s and an overtime of 4 s more
    const submitted = await postEdit(fixture.pipeline, {
      prompt: 'a long run [sim: run_s=5.5]',
      image_urls: [PNG_INPUT],
    });
    const id = String(submitted.body.id);

    // Act: while it runs past its deadline, the job shows why it still waits
    let inOvertime = await getJob(fixture.pipeline, id);
    // Seen running before its deadline first (the look at 3 s): the overtime starts at the next look.
    while (
      !inOvertime.overtime_until &&
      (inOvertime.status === 'queued' || inOvertime.status === 'running')
    ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      inOvertime = await getJob(fixture.pipeline, id);
    }
    const job = await ended(id);

    // Assess
    expect(inOvertime.last_error?.code).toBe('RUN_OVERTIME');
    expect(job.status).toBe('succeeded');
    expect(job.outputs).toHaveLength(1);
    expect(Date.parse(job.upstream_finished_at!)).toBeGreaterThan(Date.parse(job.deadline_at));
    expect(sim().job(job.upstream_request_id!)?.state).toBe('succeeded');
  });

  it('still collects a run that ended by the time the deadline check looks (it was paid for)', async () => {
    // Prepare: a job past its deadline whose run has ended upstream, and its next heartbeat
    sim().setKnobs({ clock_mode: 'manual' });
    const { job, requestId } = await strandedJob('done just in time');
    sim().transition(requestId, 'succeeded');
    const { createJobDeps } = await import('#shared/job-deps');
    const { pollJob } = await import('#core/jobs/poll-job');
    const { RunComfyClient } = await import('#core/runcomfy/client');

    // Act
    const outcome = await pollJob(
      createJobDeps(loadConfig(), 'poller', { runComfyClient: RunComfyClient }),
      { jobId: job.id, seq: job.pollCount },
      'late-heartbeat',
    );
    const collected = await ended(job.id);

    // Assess
    expect(outcome).toBe('handed_to_result');
    expect(collected.status).toBe('succeeded');
    expect(Date.parse(collected.finished_at!)).toBeGreaterThan(Date.parse(collected.deadline_at));
    expect(collected.outputs).toHaveLength(1);
  });
});

describe('Sweeper: jobs left behind', () => {
  it('cancels and expires a stranded queued job, and notifies', async () => {
    sim().setKnobs({ clock_mode: 'manual' });
    const { job, requestId } = await strandedJob('stranded in the queue');

    const summary = await fixture.pipeline.invoke('sweeper', {});
    const swept = await getJob(fixture.pipeline, job.id);

    expect(summary).toMatchObject({ ended: 1, collected: 0 });
    expect(swept.status).toBe('expired');
    expect(swept.error).toMatchObject({
      code: 'DEADLINE_EXCEEDED',
      upstream: { cancel_outcome: 'cancelled' },
    });
    expect(swept.error?.message).toMatch(/sweeper/);
    expect(sim().job(requestId)?.state).toBe('cancelled');
    const { sns } = await fixture.notifications.completionOf(job.id);
    expect(sns).toHaveLength(1);
  });

  it('gives a stranded run in progress its overtime, and expires it once that ends', async () => {
    sim().setKnobs({ clock_mode: 'manual' });
    const { job, requestId } = await strandedJob('stranded while running');
    sim().transition(requestId, 'running');

    // Act: its deadline passed 5 s ago, so its overtime (4 s) ends a second from now with the grace
    const first = await fixture.pipeline.invoke('sweeper', {});
    const waiting = await getJob(fixture.pipeline, job.id);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const second = await fixture.pipeline.invoke('sweeper', {});
    const swept = await getJob(fixture.pipeline, job.id);

    expect(first).toMatchObject({ ended: 0, collected: 0 });
    expect(waiting.status).toBe('queued');
    expect(waiting.overtime_until).toBeDefined();
    expect(second).toMatchObject({ ended: 1 });
    expect(swept.status).toBe('expired');
    expect(swept.error).toMatchObject({
      code: 'DEADLINE_EXCEEDED',
      upstream: { cancel_outcome: 'not_cancellable' },
    });
  });

  it('collects a stranded job whose run had ended upstream (it was paid for)', async () => {
    sim().setKnobs({ clock_mode: 'manual' });
    const { job, requestId } = await strandedJob('stranded but done');
    sim().transition(requestId, 'succeeded');

    const summary = await fixture.pipeline.invoke('sweeper', {});
    const collected = await waitForJob(fixture.pipeline, job.id);

    expect(summary).toMatchObject({ collected: 1, ended: 0 });
    expect(collected.status).toBe('succeeded');
    expect(collected.upstream_finished_at).toBeDefined();
    expect(collected.outputs).toHaveLength(1);
  });

  it('hands a stalled collection over again, however late, and never expires a finished run', async () => {
    // Prepare: RunComfy finished long ago; the collection's message was lost (a DLQ, a crash)
    sim().setKnobs({ clock_mode: 'manual' });
    const longAgo = new Date(Date.now() - 3_600_000).toISOString();
    const { job, requestId } = await strandedJob('finished, then forgotten', {
      status: 'running',
      upstreamFinishedAt: longAgo,
      collectNextAt: longAgo,
      collectAttempts: 1,
    });
    sim().transition(requestId, 'succeeded');

    // Act: the sweep runs twice (the second finds the job collected)
    const first = await fixture.pipeline.invoke('sweeper', {});
    const collected = await waitForJob(fixture.pipeline, job.id);
    const second = await fixture.pipeline.invoke('sweeper', {});

    // Assess
    expect(first).toMatchObject({ collected: 1, ended: 0 });
    expect(collected.status).toBe('succeeded');
    expect(collected.outputs).toHaveLength(1);
    expect(second).toMatchObject({ collected: 0, ended: 0 });
  });

  it('sends the notification of a finished job that never went out', async () => {
    // Prepare: a job that ended, whose finisher died before notifying
    const { job } = await strandedJob('ended, unannounced', {
      status: 'cancelled',
      finishedAt: new Date(Date.now() - 10_000).toISOString(),
    });

    const summary = await fixture.pipeline.invoke('sweeper', {});

    expect(summary).toMatchObject({ notified: 1 });
    const { sns } = await fixture.notifications.completionOf(job.id);
    expect(sns).toHaveLength(1);
    expect((await fixture.pipeline.invoke('sweeper', {})) as object).toMatchObject({ notified: 0 });
  });

  it('leaves active jobs within their deadline alone', async () => {
    sim().setKnobs({ clock_mode: 'manual' });
    const submitted = await postEdit(fixture.pipeline, { prompt: 'on time', image_urls: [PNG_INPUT] });

    const summary = await fixture.pipeline.invoke('sweeper', {});

    expect(summary).toMatchObject({ collected: 0, ended: 0, notified: 0 });
    expect((await getJob(fixture.pipeline, String(submitted.body.id))).status).toBe('queued');
  });
});
