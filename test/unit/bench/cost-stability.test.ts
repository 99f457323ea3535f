import { describe, expect, it } from 'vitest';
import {
  COST_METHOD,
  type CostResult,
  compareWithPrevious,
  costStabilityGoal,
  countedMethod,
} from '../../../bench/cost.ts';
import type { BenchResults } from '../../../bench/report.ts';
import { withCostFigure } from '../../../bench/report.ts';

/** Only the fields the stability check reads. */
function lastRun(fields: {
  usd: number;
  method?: string;
  throughputMeasuredAt?: string;
  previous?: NonNullable<CostResult['stability']>['previous'];
}): CostResult {
  return {
    measuredAt: '2026-12-04T10:00:00.000Z',
    method: fields.method,
    pipelineUsdPer1000Jobs: fields.usd,
    stability: {
      method: fields.method ?? 'timed-median',
      throughputMeasuredAt: fields.throughputMeasuredAt,
      previous: fields.previous,
    },
  } as CostResult;
}

describe('cost: change from the previous run', () => {
  it('compares with the last run of the same method that priced another throughput measurement', () => {
    const stability = compareWithPrevious(0.0462, COST_METHOD, {
      cost: lastRun({ usd: 0.044, method: COST_METHOD, throughputMeasuredAt: 'T1' }),
      throughputMeasuredAt: 'T2',
    });
    expect(stability.previous).toEqual({
      usdPer1000Jobs: 0.044,
      measuredAt: '2026-12-04T10:00:00.000Z',
      throughputMeasuredAt: 'T1',
    });
    expect(stability.changePercent).toBe(5);
    expect(costStabilityGoal({ stability } as CostResult)).toMatchObject({ met: true, unit: '%' });
  });

  it('keeps the earlier reference when the last run priced the same throughput figures', () => {
    const earlier = { usdPer1000Jobs: 0.05, measuredAt: 'M0', throughputMeasuredAt: 'T0' };
    const stability = compareWithPrevious(0.044, COST_METHOD, {
      cost: lastRun({ usd: 0.044, method: COST_METHOD, throughputMeasuredAt: 'T1', previous: earlier }),
      throughputMeasuredAt: 'T1',
    });
    expect(stability.previous).toEqual(earlier);
    expect(stability.changePercent).toBe(12);
    expect(costStabilityGoal({ stability } as CostResult).met).toBe(false);
  });

  it('says there is nothing to compare with, and does not call it met, after another method', () => {
    const stability = compareWithPrevious(0.044, COST_METHOD, {
      cost: lastRun({ usd: 0.0434 }),
      throughputMeasuredAt: 'T1',
    });
    expect(stability.changePercent).toBeUndefined();
    expect(stability.note).toMatch(/no previous cost run made the same way/);
    const goal = costStabilityGoal({ stability } as CostResult);
    expect(goal.met).toBe(false);
    expect(goal.figure.runs).toBe(0);
    expect(goal.label).toMatch(/none to compare/);
  });
});

describe('cost: counted method', () => {
  it("is the current one only when the CPU times are the pipeline's alone", () => {
    expect(countedMethod({ lightLoadCpuScope: 'pipeline' })).toBe(COST_METHOD);
    expect(countedMethod({})).toBe('counted-v1');
  });

  it('does not compare a run of the current method with one of counted-v1', () => {
    const stability = compareWithPrevious(0.04, COST_METHOD, {
      cost: lastRun({ usd: 0.0477, method: 'counted-v1', throughputMeasuredAt: 'T1' }),
      throughputMeasuredAt: 'T2',
    });
    expect(stability.changePercent).toBeUndefined();
    expect(stability.note).toBe(
      `no previous cost run made the same way (${COST_METHOD}; the last was counted-v1)`,
    );
    expect(costStabilityGoal({ stability } as CostResult).met).toBe(false);
  });
});

describe('README cost figure', () => {
  it('is the cost figure of results.json, between its markers', () => {
    const readme = 'Cost: <!-- bench:cost:start -->old<!-- bench:cost:end -->; more.';
    const results = {
      cost: {
        pipelineUsdPer1000Jobs: 0.04512,
        goalUsdPer1000Jobs: 0.035,
        measuredAt: '2026-12-04T11:00:00Z',
      },
    } as Partial<BenchResults>;
    expect(withCostFigure(readme, results)).toBe(
      'Cost: <!-- bench:cost:start -->**$0.0451 per 1,000 jobs** (`npm run bench`, 2026-12-04; goal ≤ $0.035: not met)<!-- bench:cost:end -->; more.',
    );
    expect(withCostFigure('no markers', results)).toBe('no markers');
  });
});
