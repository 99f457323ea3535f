import { expect, it } from 'vitest';
import { formatReport } from '../../soak/report.ts';
import { FAULT_KINDS, runSoak } from '../../soak/run-soak.ts';

/**
 * The short soak (issue: "≥ 60 jobs, every fault kind at least once"): the whole local pipeline
 * under every fault the full `npm run soak` plays, at three times the rate, with every invariant.
 */
it('keeps every invariant of the reliability soak under faults on both sides (60 jobs)', async () => {
  const report = await runSoak({ jobs: 60, rate: 4, short: true, settleSeconds: 420 });

  const failed = report.invariants.filter((result) => !result.ok);
  expect(failed, formatReport(report)).toEqual([]);
  expect(report.missingFaultKinds, formatReport(report)).toEqual([]);
  for (const kind of FAULT_KINDS) expect(report.faults[kind], kind).toBeGreaterThan(0);
}, 900_000);
