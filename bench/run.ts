/**
 * `npm run bench [-- poll cold-start copy throughput cost]`: runs the benchmarks (all by
 * default), writes bench/results.json and the charts in bench/, refreshes BENCHMARKS.md and
 * prints the summary. A benchmark run alone keeps the others' last figures from results.json.
 * Not part of `npm test`: it measures this machine, it does not assert.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { coldStartCharts, runColdStartBenchmark } from './cold-start.ts';
import { runCopyBenchmark } from './copy.ts';
import { costCharts, runCostModel } from './cost.ts';
import { nodeBinary } from './lib/node-binary.ts';
import { round } from './lib/stats.ts';
import { pollCharts, runPollBenchmark } from './poll.ts';
import { type BenchResults, benchmarksMarkdown, consoleTable, summaryRows } from './report.ts';
import { runThroughputBenchmark } from './throughput.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..');
const BENCH_DIR = join(REPO_ROOT, 'bench');
const RESULTS_FILE = join(BENCH_DIR, 'results.json');
const MARKDOWN_FILE = join(REPO_ROOT, 'BENCHMARKS.md');

const BENCHMARKS = ['poll', 'cold-start', 'copy', 'throughput', 'cost'] as const;
type BenchmarkName = (typeof BENCHMARKS)[number];

async function main(): Promise<void> {
  const selected = selectedBenchmarks(process.argv.slice(2));
  const previous = readPrevious();
  const results: BenchResults = {
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
  };
  results.measuredAt = { ...previous.measuredAt };
  const charts = new Map<string, string>();
  const started = Date.now();

  for (const name of selected) {
    const began = Date.now();
    progress(`${name}: running`);
    switch (name) {
      case 'poll':
        results.poll = runPollBenchmark();
        break;
      case 'cold-start':
        results.coldStart = await runColdStartBenchmark();
        break;
      case 'copy':
        results.copy = await runCopyBenchmark();
        break;
      case 'throughput':
        results.throughput = await runThroughputBenchmark();
        break;
      case 'cost':
        if (!results.throughput || !results.poll) {
          throw new Error(
            'cost needs the poll and throughput figures: run them first (npm run bench -- poll throughput cost)',
          );
        }
        results.cost = runCostModel(results.throughput, results.poll);
        break;
    }
    results.measuredAt[name] = results.date;
    progress(`${name}: done in ${((Date.now() - began) / 1000).toFixed(1)} s`);
  }

  if (results.poll) for (const [file, svg] of Object.entries(pollCharts(results.poll))) charts.set(file, svg);
  if (results.coldStart)
    for (const [file, svg] of Object.entries(coldStartCharts(results.coldStart))) charts.set(file, svg);
  if (results.cost) for (const [file, svg] of Object.entries(costCharts(results.cost))) charts.set(file, svg);
  for (const [file, svg] of charts) writeFileSync(join(BENCH_DIR, file), svg);
  writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(MARKDOWN_FILE, benchmarksMarkdown(results, [...charts.keys()]));

  console.log(`\n${consoleTable(summaryRows(results))}\n`);
  console.log(
    `wrote bench/results.json, ${[...charts.keys()].map((file) => `bench/${file}`).join(', ')}, BENCHMARKS.md in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
}

function selectedBenchmarks(args: string[]): BenchmarkName[] {
  const names = args.map((arg) => (arg === 'coldStart' ? 'cold-start' : arg));
  const unknown = names.filter((name) => !(BENCHMARKS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new Error(`unknown benchmark(s) ${unknown.join(', ')}; choose from ${BENCHMARKS.join(', ')}`);
  }
  // Always in the canonical order: cost reads what poll and throughput measured.
  return names.length === 0 ? [...BENCHMARKS] : BENCHMARKS.filter((name) => names.includes(name));
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

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
