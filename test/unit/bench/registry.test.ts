import { describe, expect, it } from 'vitest';
import { goal } from '../../../bench/lib/goals.ts';
import { spread } from '../../../bench/lib/stats.ts';
import { type BenchResults, benchmarksMarkdown, goalRows } from '../../../bench/report.ts';
import { CASES, selectedCases } from '../../../bench/run.ts';

describe('bench case registry', () => {
  it('selects cases by --only, comma lists and bare names, in the registry order', () => {
    expect(selectedCases(['--only', 'cost,poll']).map((c) => c.name)).toEqual(['poll', 'cost']);
    expect(selectedCases(['--only=cold-start', '--only', 'admission']).map((c) => c.name)).toEqual([
      'cold-start',
      'admission',
    ]);
    expect(selectedCases(['throughput']).map((c) => c.name)).toEqual(['throughput']);
    expect(selectedCases([])).toBe(CASES);
    expect(() => selectedCases(['--only', 'nope'])).toThrow(/unknown case\(s\) nope/);
  });

  it('judges a goal on the statistic it names', () => {
    const figure = spread([1.3, 1.1, 1.0]);
    expect(figure).toEqual({ min: 1, median: 1.1, max: 1.3, runs: 3 });
    const fields = {
      id: 'x',
      label: 'x',
      unit: '×',
      figure,
      baseline: 'y',
      goal: { op: '<=' as const, value: 1.15 },
    };
    expect(goal(fields)).toMatchObject({ judgedOn: 'median', met: true });
    expect(goal({ ...fields, judgedOn: 'max' }).met).toBe(false);
    expect(goal({ ...fields, figure: spread([]) }).met).toBe(false);
  });

  it('writes the summary of BENCHMARKS.md from the goals in results.json', () => {
    const results: BenchResults = {
      date: '2026-12-04T00:00:00.000Z',
      node: 'v24',
      machine: { cpus: 2, model: 'cpu', memoryGiB: 1, platform: 'linux', loadAverage1mAtStart: 1 },
      cases: {
        poll: {
          measuredAt: '2026-12-04T00:00:00.000Z',
          seconds: 1,
          loadAverage1m: { before: 1, after: 2 },
          cpus: 2,
        },
      },
      goals: [
        {
          case: 'poll',
          measuredAt: '2026-12-04T00:00:00.000Z',
          ...goal({
            id: 'poll.x',
            label: 'poll: mean added delay',
            unit: 's',
            figure: spread([1.0, 1.1, 1.2]),
            goal: { op: '<=', value: 1.5 },
            baseline: 'absolute',
          }),
        },
      ],
    };
    expect(goalRows(results)).toEqual([
      {
        benchmark: 'poll',
        figure: 'poll: mean added delay',
        value: '1.10 s (1.00–1.20, 3 runs)',
        goal: 'median ≤ 1.5 s',
        met: true,
      },
    ]);
    const markdown = benchmarksMarkdown(results, []);
    expect(markdown).toContain(
      '| poll | poll: mean added delay | 1.10 s (1.00–1.20, 3 runs) | median ≤ 1.5 s | yes |',
    );
    expect(markdown).toContain('| poll | 2026-12-04T00:00:00.000Z | 1.0 | 1.00 → 2.00 |');
  });
});
