import { describe, expect, it } from 'vitest';
import {
  bar,
  createBatchProgress,
  describeBatchProgress,
  estimateRemainingMs,
  tallyOf,
} from '../../../client/batch-progress.ts';
import { sinceOption, UsageError } from '../../../client/cli-options.ts';
import { formatJobTable } from '../../../client/list-command.ts';
import type { BatchView, JobView } from '../../../client/types.ts';

const batch = (counts: Partial<BatchView['counts']>, extra: Partial<BatchView> = {}): BatchView => ({
  id: 'b-1',
  status: 'active',
  owner: 'local',
  source: 'manifest',
  on_invalid: 'skip',
  created_at: '2026-06-01T12:00:00.000Z',
  updated_at: '2026-06-01T12:00:00.000Z',
  lines: 102,
  invalid_lines: 2,
  counts: { pending: 0, queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0, expired: 0, ...counts },
  jobs_created: 100,
  cost: 0,
  ...extra,
});

describe('Function: tallyOf', () => {
  it('groups the counts as the bar shows them: done, failed (any other end), running, queued (or not made)', () => {
    expect(
      tallyOf(
        batch({ succeeded: 40, failed: 3, expired: 1, cancelled: 1, running: 5, queued: 40, pending: 10 }),
      ),
    ).toEqual({ done: 40, failed: 5, running: 5, queued: 50, total: 100 });
  });
});

describe('Function: estimateRemainingMs', () => {
  it('is what is left at the rate jobs ended since the first look, unknown before one ended', () => {
    expect(estimateRemainingMs({ atMs: 0, ended: 10 }, { atMs: 60_000, ended: 40, total: 100 })).toBe(
      120_000,
    );
    expect(
      estimateRemainingMs({ atMs: 0, ended: 10 }, { atMs: 60_000, ended: 10, total: 100 }),
    ).toBeUndefined();
    expect(estimateRemainingMs({ atMs: 0, ended: 0 }, { atMs: 1, ended: 100, total: 100 })).toBeUndefined();
  });
});

describe('Function: describeBatchProgress', () => {
  it('shows the bar, each group and the ETA', () => {
    const line = describeBatchProgress(batch({ succeeded: 45, failed: 5, running: 10, queued: 40 }), 190_000);
    expect(line).toBe(`${bar(0.5)} 50% · 45 done · 5 failed · 10 running · 40 queued · ETA 3m10s`);
    expect(bar(0.5, 4)).toBe('[██░░]');
    expect(describeBatchProgress(batch({}, { status: 'validating', lines: undefined }), undefined)).toBe(
      'validating the manifest',
    );
  });
});

describe('Function: createBatchProgress', () => {
  it('on a pipe, writes a line when the counts change, at most every interval, and never the end', () => {
    // Prepare
    const written: string[] = [];
    let now = 0;
    const progress = createBatchProgress({
      stream: { write: (text: string) => written.push(text), isTTY: false },
      label: 'batch b-1',
      now: () => now,
      minIntervalMs: 5_000,
    });

    // Act
    progress.update(batch({ queued: 100 }));
    now = 1_000;
    progress.update(batch({ queued: 90, running: 10 }));
    now = 6_000;
    progress.update(batch({ queued: 80, running: 10, succeeded: 10 }));
    now = 12_000;
    progress.update(batch({ queued: 80, running: 10, succeeded: 10 }));
    progress.update(batch({ succeeded: 100 }, { status: 'completed' }));
    progress.stop();

    // Assess
    expect(written).toEqual([
      'batch b-1: [░░░░░░░░░░░░░░░░░░░░] 0% · 0 done · 0 failed · 0 running · 100 queued · ETA –\n',
      `batch b-1: ${bar(0.1)} 10% · 10 done · 0 failed · 10 running · 80 queued · ETA 54s\n`,
    ]);
  });

  it('on a terminal, redraws one line in place and clears it when stopped', () => {
    const written: string[] = [];
    const progress = createBatchProgress({
      stream: { write: (text: string) => written.push(text), isTTY: true },
      label: 'batch b-1',
      now: () => 0,
    });
    progress.update(batch({ queued: 100 }));
    progress.update(batch({ queued: 99, running: 1 }));
    progress.stop();
    expect(written).toHaveLength(3);
    expect(written.every((text) => text.startsWith('\r\x1b[2K'))).toBe(true);
    expect(written[2]).toBe('\r\x1b[2K');
  });
});

describe('Function: sinceOption', () => {
  it('takes an age or an ISO time', () => {
    const now = Date.parse('2026-06-02T12:00:00.000Z');
    expect(sinceOption('--since', '24h', now)).toBe('2026-06-01T12:00:00.000Z');
    expect(sinceOption('--since', '30m', now)).toBe('2026-06-02T11:30:00.000Z');
    expect(sinceOption('--since', '7d', now)).toBe('2026-05-26T12:00:00.000Z');
    expect(sinceOption('--since', '2026-06-01T00:00:00Z', now)).toBe('2026-06-01T00:00:00.000Z');
    expect(() => sinceOption('--since', 'yesterday', now)).toThrow(UsageError);
  });
});

describe('Function: formatJobTable', () => {
  it('aligns the columns and shows the error, or else the prompt', () => {
    const job = (id: string, extra: Partial<JobView>): JobView =>
      ({
        id,
        status: 'succeeded',
        input: { prompt: 'make the cup red', image_urls: [] },
        created_at: '2026-06-01T12:00:00.000Z',
        updated_at: '2026-06-01T12:00:00.000Z',
        deadline_at: '2026-06-01T12:15:00.000Z',
        ...extra,
      }) as JobView;
    const table = formatJobTable([
      job('a', { cost: 0.01, caller_reference: 'sku-1' }),
      job('bb', { status: 'failed', error: { code: 'UPSTREAM_FAILED', message: 'no' } }),
    ]);
    expect(table.split('\n')).toEqual([
      'ID  STATUS     CREATED (UTC)        COST     REFERENCE  DETAIL',
      'a   succeeded  2026-06-01 12:00:00  $0.0100  sku-1      make the cup red',
      'bb  failed     2026-06-01 12:00:00  -        -          UPSTREAM_FAILED: no',
      '',
    ]);
  });
});
