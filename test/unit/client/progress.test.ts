import { afterEach, describe, expect, it, vi } from 'vitest';
import { createProgressReporter, describeProgress, formatElapsed } from '../../../client/progress.ts';
import type { JobView } from '../../../client/types.ts';

const job = (state: Partial<JobView>): JobView => ({
  id: 'job1',
  status: 'queued',
  input: {
    prompt: 'p',
    image_urls: ['https://example.com/a.png'],
    guidance_scale: 2.5,
    image_size: 'square_hd',
    output_format: 'png',
  },
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
  deadline_at: '2026-01-01T00:10:00.000Z',
  ...state,
});

/** A stream that keeps what was written. */
function captureStream(isTTY: boolean) {
  const chunks: string[] = [];
  return { stream: { isTTY, write: (text: string) => chunks.push(text) }, chunks };
}

describe('Function: describeProgress', () => {
  it('says where a job is', () => {
    expect(describeProgress(job({ status: 'queued', phase: 'submitting' }))).toBe('submitting');
    expect(describeProgress(job({ status: 'queued', phase: 'queued', queue_position: 3 }))).toBe(
      'queued, position 3',
    );
    expect(describeProgress(job({ status: 'queued' }))).toBe('queued');
    expect(describeProgress(job({ status: 'running', phase: 'running' }))).toBe('running');
    expect(describeProgress(job({ status: 'running', phase: 'copying' }))).toBe('copying outputs');
    expect(describeProgress(job({ status: 'expired' }))).toBe('expired');
  });
});

describe('Function: formatElapsed', () => {
  it('formats seconds, minutes and hours', () => {
    expect(formatElapsed(4_900)).toBe('4s');
    expect(formatElapsed(65_000)).toBe('1m05s');
    expect(formatElapsed(3_720_000)).toBe('1h02m');
  });
});

describe('Function: createProgressReporter', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes a plain line only when the state changes, when not on a terminal', () => {
    // Prepare
    let now = 0;
    const { stream, chunks } = captureStream(false);
    const progress = createProgressReporter({ stream, label: 'job job1', now: () => now });

    // Act
    progress.update(job({ status: 'queued', phase: 'queued', queue_position: 2 }));
    progress.update(job({ status: 'queued', phase: 'queued', queue_position: 1 }));
    now = 3_000;
    progress.update(job({ status: 'running', phase: 'running' }));
    progress.update(job({ status: 'running', phase: 'running' }));
    now = 7_000;
    progress.update(job({ status: 'running', phase: 'copying' }));
    progress.update(job({ status: 'succeeded' }));
    progress.stop();

    // Assess
    expect(chunks).toEqual([
      'job job1: queued, position 2 · 0s\n',
      'job job1: running · 3s\n',
      'job job1: copying outputs · 7s\n',
    ]);
    expect(chunks.join('')).not.toContain('\x1b');
  });

  it('redraws one spinner line in place on a terminal, and clears it when stopped', () => {
    // Prepare
    vi.useFakeTimers();
    let now = 0;
    const { stream, chunks } = captureStream(true);
    const progress = createProgressReporter({
      stream,
      label: 'job job1',
      now: () => now,
      frameIntervalMs: 100,
    });

    // Act
    progress.update(job({ status: 'queued', phase: 'queued', queue_position: 4 }));
    now = 2_000;
    vi.advanceTimersByTime(100);
    progress.update(job({ status: 'running', phase: 'running' }));
    progress.stop();
    vi.advanceTimersByTime(1_000);

    // Assess
    expect(chunks).toEqual([
      '\r\x1b[2K⠋ job job1: queued, position 4 · 0s',
      '\r\x1b[2K⠙ job job1: queued, position 4 · 2s',
      '\r\x1b[2K⠹ job job1: running · 2s',
      '\r\x1b[2K',
    ]);
    expect(chunks.join('')).not.toContain('\n');
  });
});
