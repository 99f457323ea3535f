import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { holds } from '#core/jobs/conditions';
import type { Job } from '#core/jobs/job';
import * as lifecycle from '#core/jobs/lifecycle';
import { DOCUMENTS_WITH_LIFECYCLE, withLifecycle } from '../../../scripts/generate-docs.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const ctx = { nowMs: Date.parse('2026-06-01T12:00:00.000Z'), graceMs: 300_000 };

function job(fields: Partial<Job> = {}): Job {
  return {
    id: 'j',
    status: 'queued',
    input: {
      prompt: 'p',
      image_urls: ['https://a.example/b.png'],
      guidance_scale: 2.5,
      image_size: 'square_hd',
      output_format: 'png',
    },
    createdAt: '2026-06-01T11:59:00.000Z',
    updatedAt: '2026-06-01T11:59:00.000Z',
    deadlineAt: '2026-06-01T12:14:00.000Z',
    submitAttempts: 0,
    pollCount: 0,
    ...fields,
  };
}

const allows = (write: lifecycle.JobWrite, record: Job) =>
  holds(write.condition, record as unknown as Record<string, unknown>);

describe('Module: lifecycle', () => {
  it('keeps the documents’ state diagram in step with the transition table (`npm run docs`)', () => {
    for (const name of DOCUMENTS_WITH_LIFECYCLE) {
      const file = resolve(ROOT, name);
      if (!existsSync(file)) continue;
      const text = readFileSync(file, 'utf8');
      expect(text).toContain('<!-- lifecycle:start -->');
      expect(text).toBe(withLifecycle(text));
    }
  });

  it('allows every transition only from the statuses its table row names', () => {
    const writes: lifecycle.JobWrite[] = [
      lifecycle.claimSubmission(job(), { seq: 0, messageId: 'm' }, ctx),
      lifecycle.markRunning({ seq: 0, messageId: 'm' }, ctx),
      lifecycle.expire({ code: 'DEADLINE_EXCEEDED', message: 'late' }, ctx),
      lifecycle.takeNotifyLease(ctx),
    ];
    for (const write of writes) {
      const spec = lifecycle.TRANSITIONS[write.transition];
      for (const status of ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'] as const) {
        const open = job({ status, notifiedAt: undefined });
        if (!(spec.from as readonly string[]).includes(status)) expect(allows(write, open)).toBe(false);
      }
    }
  });

  it('never expires a run RunComfy has finished, nor a job whose submission is in flight', () => {
    const expire = lifecycle.expire({ code: 'DEADLINE_EXCEEDED', message: 'late' }, ctx);
    expect(allows(expire, job({ status: 'running', requestId: 'r' }))).toBe(true);
    expect(
      allows(
        expire,
        job({ status: 'running', requestId: 'r', upstreamFinishedAt: '2026-06-01T12:00:00.000Z' }),
      ),
    ).toBe(false);
    expect(allows(expire, job({ submittingSince: '2026-06-01T11:59:59.000Z' }))).toBe(false);
  });

  it('lets one collector hold the lease at a time, and only the holder end the job', () => {
    const handed = job({ status: 'running', requestId: 'r', upstreamFinishedAt: '2026-06-01T11:59:00.000Z' });
    const first = lifecycle.startCollection(handed, { token: 'a', untilMs: ctx.nowMs + 150_000 }, ctx);
    expect(allows(first, handed)).toBe(true);
    const leased = job({
      ...handed,
      collectAttempts: 1,
      collectLeaseToken: 'a',
      collectLeaseUntil: '2026-06-01T12:02:30.000Z',
    });
    expect(
      allows(lifecycle.startCollection(leased, { token: 'b', untilMs: ctx.nowMs + 150_000 }, ctx), leased),
    ).toBe(false);
    // Once the lease ran out (the holder died), another may take it.
    const later = { ...ctx, nowMs: ctx.nowMs + 200_000 };
    expect(
      allows(
        lifecycle.startCollection(leased, { token: 'b', untilMs: later.nowMs + 150_000 }, later),
        leased,
      ),
    ).toBe(true);
    expect(allows(lifecycle.finishCollection('b', { status: 'succeeded' }, ctx), leased)).toBe(false);
    expect(allows(lifecycle.finishCollection('a', { status: 'succeeded' }, ctx), leased)).toBe(true);
  });

  it('puts every job the sweeper may have to look after in its index, and takes it out once notified', () => {
    const created = lifecycle.newJob(
      { id: 'j', input: job().input, createdAt: 'x', updatedAt: 'x', deadlineAt: '2026-06-01T12:15:00.000Z' },
      ctx,
    );
    expect(created.sweepAt).toBe('2026-06-01T12:20:00.000Z');
    expect(lifecycle.handOver({ seq: 1, messageId: 'm' }, ctx).set.sweepAt).toBeDefined();
    expect(lifecycle.expire({ code: 'DEADLINE_EXCEEDED', message: 'late' }, ctx).set.sweepAt).toBeDefined();
    expect(lifecycle.markNotified(ctx).remove).toContain('sweepAt');
  });

  it('keeps a sweep time no later than needed on hand-over and lease (no index churn), on condition it did not move', () => {
    const beat = { seq: 3, messageId: 'm' };
    // Admitted at 11:59 with the default 15-minute deadline: swept at 12:19 (deadline + grace).
    const running = job({
      status: 'running',
      requestId: 'r',
      pollCount: 3,
      deadlineAt: '2026-06-01T12:14:00.000Z',
      sweepAt: '2026-06-01T12:19:00.000Z',
    });
    const lean = lifecycle.handOver(beat, ctx, running);
    expect(lean.set.sweepAt).toBeUndefined();
    expect(lifecycle.keepsSweepTime(lean)).toBe(true);
    expect(allows(lean, running)).toBe(true);
    // Another write moved it meanwhile: refused, and the caller writes it anew.
    expect(allows(lean, { ...running, sweepAt: '2026-06-01T12:40:00.000Z' })).toBe(false);
    const full = lifecycle.handOver(beat, ctx);
    expect(full.set.sweepAt).toBe('2026-06-01T12:20:00.000Z');
    expect(lifecycle.keepsSweepTime(full)).toBe(false);
    // A deadline's sweep time later than the collection's (a long deadline) is moved, as before.
    const longDeadline = { ...running, sweepAt: '2026-06-02T12:00:00.000Z' };
    expect(lifecycle.handOver(beat, ctx, longDeadline).set.sweepAt).toBe('2026-06-01T12:20:00.000Z');

    const handed = job({
      ...running,
      upstreamFinishedAt: '2026-06-01T12:00:00.000Z',
      collectNextAt: '2026-06-01T12:00:00.000Z',
    });
    const lease = { token: 'a', untilMs: ctx.nowMs + 150_000 };
    const leanLease = lifecycle.startCollection(handed, lease, ctx, true);
    expect(leanLease.set.sweepAt).toBeUndefined();
    expect(allows(leanLease, handed)).toBe(true);
    expect(allows(leanLease, { ...handed, sweepAt: '2026-06-01T12:20:00.000Z' })).toBe(false);
    expect(lifecycle.startCollection(handed, lease, ctx).set.sweepAt).toBe('2026-06-01T12:22:30.000Z');
  });

  it('resends a collection only once its next attempt and its last lease lie the stall allowance and grace behind', () => {
    const handed = job({
      status: 'running',
      requestId: 'r',
      upstreamFinishedAt: '2026-06-01T11:58:00.000Z',
      collectNextAt: '2026-06-01T11:58:00.000Z',
      collectAttempts: 1,
      collectLeaseToken: 'a',
      collectLeaseUntil: '2026-06-01T12:00:30.000Z',
      // The deadline's sweep time, kept by the hand-over and the lease: earlier than the stall.
      sweepAt: '2026-06-01T12:10:00.000Z',
    });
    const stalledAt = lifecycle.collectionStalledAt(handed, ctx);
    expect(new Date(stalledAt).toISOString()).toBe('2026-06-01T12:20:30.000Z');
    const at = (ms: number) => ({ ...ctx, nowMs: ms });
    expect(
      allows(lifecycle.resendCollection(handed, at(Date.parse('2026-06-01T12:10:00.000Z'))), handed),
    ).toBe(false);
    expect(allows(lifecycle.resendCollection(handed, at(stalledAt - 1)), handed)).toBe(false);
    expect(allows(lifecycle.resendCollection(handed, at(stalledAt)), handed)).toBe(true);
    // Deferred (no lease): from its next attempt on.
    const deferred = job({
      ...handed,
      collectLeaseToken: undefined,
      collectLeaseUntil: undefined,
      collectNextAt: '2026-06-01T12:05:00.000Z',
      sweepAt: '2026-06-01T12:25:00.000Z',
    });
    const deferredStall = lifecycle.collectionStalledAt(deferred, ctx);
    expect(allows(lifecycle.resendCollection(deferred, at(deferredStall - 1)), deferred)).toBe(false);
    expect(allows(lifecycle.resendCollection(deferred, at(deferredStall)), deferred)).toBe(true);
  });
});
