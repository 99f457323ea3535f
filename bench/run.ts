/**
 * `npm run bench` runs every benchmark case; `npm run bench -- --only <case>[,<case>…]` runs some
 * (the others keep their last figures in results.json); `npm run bench -- --report` runs none. Writes bench/results.json, the charts in
 * bench/ and BENCHMARKS.md (generated from results.json alone), and prints the goals.
 * Not part of `npm test`: it measures this machine, it does not assert.
 *
 * A case plugs in through `BenchCase` below: it measures (repeating where a figure is a timing),
 * says which of its figures are goals — each a ratio to a baseline measured in the same run where
 * the goal is one, with its min / median / max — and may draw charts. The runner records the
 * machine's load around each case.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { admissionGoals, runAdmissionBenchmark } from './admission.ts';
import { coldStartCharts, coldStartGoals, runColdStartBenchmark } from './cold-start.ts';
import { copyGoals, runCopyBenchmark } from './copy.ts';
import { costCharts, costStabilityGoal, runCostBenchmark } from './cost.ts';
import { latencyGoals, runLatencyBenchmark } from './latency.ts';
import { type GoalFigure, goal } from './lib/goals.ts';
import { nodeBinary } from './lib/node-binary.ts';
import { round, spread } from './lib/stats.ts';
import { pollCharts, pollGoals, runPollCase } from './poll.ts';
import { type BenchResults, benchmarksMarkdown, consoleTable, goalRows, withCostFigure } from './report.ts';
import { runThroughputBenchmark } from './throughput.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..');
const BENCH_DIR = join(REPO_ROOT, 'bench');
const RESULTS_FILE = join(BENCH_DIR, 'results.json');
const MARKDOWN_FILE = join(REPO_ROOT, 'BENCHMARKS.md');
const README_FILE = join(REPO_ROOT, 'README.md');

export { type GoalFigure, type GoalRecord, goal } from './lib/goals.ts';

export interface CaseContext {
  /** Figures so far (this run's, else the last ones): for cases that build on others. */
  results: Partial<BenchResults>;
}

/** A benchmark case: `run` measures, `goals` judges, `charts` draws (file name -> SVG). */
export interface BenchCase<K extends CaseKey = CaseKey> {
  name: string;
  /** Where its figures live in results.json. */
  key: K;
  /** Cases whose figures `run` reads (they run first when selected together). */
  needs?: string[];
  run(context: CaseContext): Promise<NonNullable<BenchResults[K]>> | NonNullable<BenchResults[K]>;
  goals(result: NonNullable<BenchResults[K]>): GoalFigure[];
  charts?(result: NonNullable<BenchResults[K]>): Record<string, string>;
}

type CaseKey = 'poll' | 'coldStart' | 'copy' | 'throughput' | 'latency' | 'admission' | 'cost';

const defineCase = <K extends CaseKey>(definition: BenchCase<K>): BenchCase<K> => definition;

/** The cases, in the order a full run takes them (cost reads poll and throughput). */
export const CASES = [
  defineCase({
    name: 'poll',
    key: 'poll',
    run: () => runPollCase(),
    goals: pollGoals,
    charts: pollCharts,
  }),
  defineCase({
    name: 'cold-start',
    key: 'coldStart',
    run: () => runColdStartBenchmark(),
    goals: coldStartGoals,
    charts: coldStartCharts,
  }),
  defineCase({
    name: 'copy',
    key: 'copy',
    run: () => runCopyBenchmark(),
    // Each fresh worker process measures the copy and its baselines once: one run, one ratio.
    goals: copyGoals,
  }),
  defineCase({
    name: 'throughput',
    key: 'throughput',
    run: () => runThroughputBenchmark(),
    goals: (tp) => [
      goal({
        id: 'throughput.succeeded',
        label: `throughput: ${tp.jobs} jobs back to back, share succeeded`,
        unit: '',
        figure: spread([tp.succeeded / tp.jobs]),
        goal: { op: '==', value: 1 },
        baseline: 'jobs submitted',
      }),
    ],
  }),
  defineCase({
    name: 'latency',
    key: 'latency',
    needs: ['poll'],
    run: () => runLatencyBenchmark(),
    goals: latencyGoals,
  }),
  defineCase({
    name: 'admission',
    key: 'admission',
    run: () => runAdmissionBenchmark(),
    goals: admissionGoals,
  }),
  defineCase({
    name: 'cost',
    key: 'cost',
    needs: ['poll', 'throughput'],
    run: ({ results }) => {
      if (!results.throughput || !results.poll) {
        throw new Error(
          'cost needs the poll and throughput figures: run them first (--only poll,throughput,cost)',
        );
      }
      // results.cost is still the previous run's: the stability goal compares with it.
      return runCostBenchmark(
        results.throughput,
        results.poll,
        {},
        { cost: results.cost, throughputMeasuredAt: results.cases?.throughput?.measuredAt },
      );
    },
    // A model computed once from counted work: no spread within a run; across runs, the change.
    goals: (cost) => [
      goal({
        id: 'cost.usd-per-1000',
        label: 'cost: USD per 1,000 jobs',
        unit: 'USD',
        figure: spread([cost.pipelineUsdPer1000Jobs], 4),
        goal: { op: '<=', value: cost.goalUsdPer1000Jobs },
        baseline: 'absolute (list prices)',
      }),
      goal({
        id: 'cost.ratio-to-step-functions',
        label: 'cost: / a Step Functions polling loop',
        unit: '×',
        figure: spread([cost.ratioToStepFunctions]),
        goal: { op: '<=', value: cost.goalRatioToStepFunctions },
        baseline: 'a Step Functions Standard loop, same schedule and request counts',
      }),
      costStabilityGoal(cost),
    ],
    charts: costCharts,
  }),
] as const satisfies readonly BenchCase[];

type AnyCase = BenchCase<CaseKey>;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  // `--report`: measure nothing, write BENCHMARKS.md and the charts from results.json as it is.
  const reportOnly = args.includes('--report');
  const selected = reportOnly ? [] : selectedCases(args);
  const previous = readPrevious();
  const measured: BenchResults = {
    ...previous,
    date: new Date().toISOString(),
    node: spawnSync(nodeBinary(), ['--version'], { encoding: 'utf8' }).stdout.trim() || process.version,
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model ?? 'unknown',
      memoryGiB: round(totalmem() / 2 ** 30, 1),
      platform: `${platform()} ${release()}`,
      loadAverage1mAtStart: round(loadavg()[0] ?? 0, 2),
    },
    cases: { ...previous.cases },
    goals: [...(previous.goals ?? [])],
  };
  // A report alone keeps the last run's date and machine.
  const results = reportOnly && previous.date ? ({ ...measured, ...previous } as BenchResults) : measured;
  // Superseded by `cases` (each case's time and load).
  delete results.measuredAt;
  const started = Date.now();

  for (const benchCase of selected as AnyCase[]) {
    const began = Date.now();
    const loadBefore = loadavg();
    progress(`${benchCase.name}: running (1-minute load ${loadBefore[0]?.toFixed(2)})`);
    const result = await benchCase.run({ results });
    (results as unknown as Record<string, unknown>)[benchCase.key] = result;
    const goals = benchCase.goals(result as never);
    const measuredAt = new Date().toISOString();
    results.goals = [
      ...(results.goals ?? []).filter((record) => record.case !== benchCase.name),
      ...goals.map((figure) => ({ case: benchCase.name, measuredAt, ...figure })),
    ];
    results.cases![benchCase.name] = {
      measuredAt,
      seconds: round((Date.now() - began) / 1000, 1),
      loadAverage1m: { before: round(loadBefore[0] ?? 0, 2), after: round(loadavg()[0] ?? 0, 2) },
      cpus: cpus().length,
    };
    progress(`${benchCase.name}: done in ${((Date.now() - began) / 1000).toFixed(1)} s`);
  }
  // Goals and cases in the registry's order, whichever ran.
  const order = CASES.map((c) => c.name as string);
  results.goals = [...(results.goals ?? [])].sort((a, b) => order.indexOf(a.case) - order.indexOf(b.case));
  results.cases = Object.fromEntries(
    Object.entries(results.cases ?? {}).sort(([a], [b]) => order.indexOf(a) - order.indexOf(b)),
  );

  const charts = new Map<string, string>();
  for (const benchCase of CASES as readonly AnyCase[]) {
    const result = results[benchCase.key];
    if (result && benchCase.charts) {
      for (const [file, svg] of Object.entries(benchCase.charts(result as never))) charts.set(file, svg);
    }
  }
  for (const [file, svg] of charts) writeFileSync(join(BENCH_DIR, file), svg);
  writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(MARKDOWN_FILE, benchmarksMarkdown(results, [...charts.keys()]));
  // The README quotes the cost figure: the same number, from the same results.json.
  if (existsSync(README_FILE)) {
    const readme = readFileSync(README_FILE, 'utf8');
    const updated = withCostFigure(readme, results);
    if (updated !== readme) writeFileSync(README_FILE, updated);
  }

  console.log(`\n${consoleTable(goalRows(results))}\n`);
  console.log(
    `wrote bench/results.json, ${[...charts.keys()].map((file) => `bench/${file}`).join(', ')}, BENCHMARKS.md, README.md's cost figure in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
}

/** `--only a,b`, `--only a --only b`, `--only=a` or bare names; every case when none is named. */
export function selectedCases(args: readonly string[]): readonly BenchCase[] {
  const names: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === '--only') names.push(...(args[++index] ?? '').split(','));
    else if (arg.startsWith('--only=')) names.push(...arg.slice('--only='.length).split(','));
    else names.push(...arg.split(','));
  }
  const wanted = names.filter(Boolean).map((name) => (name === 'coldStart' ? 'cold-start' : name));
  const known = CASES.map((c) => c.name as string);
  const unknown = wanted.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new Error(`unknown case(s) ${unknown.join(', ')}; choose from ${known.join(', ')}`);
  }
  // Always in the registry's order: a case runs after those it needs.
  return wanted.length === 0 ? CASES : CASES.filter((c) => wanted.includes(c.name));
}

function readPrevious(): Partial<BenchResults> {
  if (!existsSync(RESULTS_FILE)) return {};
  try {
    return JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as Partial<BenchResults>;
  } catch {
    return {};
  }
}

function progress(message: string): void {
  process.stderr.write(`[bench] ${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  });
}
