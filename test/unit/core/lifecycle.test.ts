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
});
