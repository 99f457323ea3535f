/**
 * `npm run soak [-- --jobs 500 --rate 2 --seed 1 --short --record]`: a fault soak of the whole
 * local pipeline (see soak/run-soak.ts). Prints every invariant and exits non-zero if one fails;
 * `--record` writes the summary into RELIABILITY.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { formatReport, withSummary } from './report.ts';
import { runSoak } from './run-soak.ts';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string' },
    rate: { type: 'string' },
    seed: { type: 'string' },
    settle: { type: 'string' },
    short: { type: 'boolean', default: false },
    record: { type: 'boolean', default: false },
  },
});

const number = (value: string | undefined) => (value === undefined ? undefined : Number(value));
const report = await runSoak(
  {
    ...(values.jobs ? { jobs: number(values.jobs) } : {}),
    ...(values.rate ? { rate: number(values.rate) } : {}),
    ...(values.seed ? { seed: number(values.seed) } : {}),
    ...(values.settle ? { settleSeconds: number(values.settle) } : {}),
    short: values.short,
  },
  (line) => console.log(`… ${line}`),
);
console.log(formatReport(report));
if (values.record) {
  const file = resolve(import.meta.dirname, '..', 'RELIABILITY.md');
  writeFileSync(file, withSummary(readFileSync(file, 'utf8'), report));
  console.log(`recorded in ${file}`);
}
process.exit(report.ok ? 0 : 1);
