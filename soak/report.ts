import type { SoakReport } from './run-soak.ts';

/** The soak's findings as text: each invariant, the faults met, the outcomes and the throughput. */
export function formatReport(report: SoakReport): string {
  const lines = [
    `Soak: ${report.options.jobs} jobs at ${report.options.rate}/s, seed ${report.options.seed}${report.options.short ? ' (short)' : ''}, ${report.durationSeconds} s, ${report.machine.cpus} CPUs, load ${report.machine.loadAverage.join(' ')}`,
    '',
    'Invariants:',
    ...report.invariants.map(
      (result) => `  ${result.ok ? 'PASS' : 'FAIL'}  ${result.name} — ${result.detail}`,
    ),
  ];
  if (report.missingFaultKinds.length > 0) {
    lines.push(`  FAIL  every fault kind met — never met: ${report.missingFaultKinds.join(', ')}`);
  }
  lines.push(
    '',
    'Faults met:',
    ...Object.entries(report.faults)
      .filter(([kind]) => !kind.startsWith('simulator.'))
      .map(([kind, count]) => `  ${kind.padEnd(32)} ${count}`),
    '',
    'Outcomes:',
    ...Object.entries(report.outcomes)
      .sort(([, a], [, b]) => b - a)
      .map(([outcome, count]) => `  ${outcome.padEnd(32)} ${count}`),
    '',
    `Throughput: ${report.throughput.jobsPerSecond} jobs/s; succeeded jobs' latency p50 ${report.throughput.latencyP50Seconds} s, p95 ${report.throughput.latencyP95Seconds} s`,
    '',
    report.ok ? 'SOAK PASSED' : 'SOAK FAILED',
  );
  return lines.join('\n');
}

/** The document with its `soak` block replaced by this run's summary (`npm run soak -- --record`). */
export function withSummary(document: string, report: SoakReport): string {
  const start = '<!-- soak:start -->';
  const end = '<!-- soak:end -->';
  const from = document.indexOf(start);
  const to = document.indexOf(end);
  if (from < 0 || to < from) throw new Error(`the document has no ${start} … ${end} block`);
  const summary = [
    `Recorded ${report.startedAt.slice(0, 10)} by \`npm run soak -- --jobs ${report.options.jobs} --rate ${report.options.rate} --seed ${report.options.seed} --record\`:`,
    '',
    '```text',
    formatReport(report),
    '```',
  ].join('\n');
  return `${document.slice(0, from + start.length)}\n${summary}\n${document.slice(to)}`;
}
