import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { FUNCTIONS } from '../contract/index.ts';
import { startMotoServer } from '../local/moto-server.ts';
import { startSimulator } from '../simulator/index.ts';
import type { CopyWorkerConfig, CopyWorkerResult } from './copy-worker.ts';
import { type GoalFigure, goal } from './lib/goals.ts';
import { nodeBinary } from './lib/node-binary.ts';
import { median, round, spread } from './lib/stats.ts';

/*
 * Copy benchmark: the real copyOutputs moving 4 outputs from the RunComfy simulator (padded, still
 * valid PNGs, served with their Content-Length) into moto's S3, at two sizes (4 × 25 MiB and
 * 4 × 100 MiB), in fresh child processes so that each peak RSS is the copy's alone (the simulator
 * serving the bytes lives in this process). The baseline, measured in the same child right after
 * the copy, to the same endpoint: one PutObject of the same total bytes from a buffer already in
 * memory (the wording), plus, for context, four parallel PutObjects of one output each.
 * Each child also counts the S3 requests per output, for the measured outputs and for the warm-up
 * copy's small ones.
 */

const REPO_ROOT = resolve(import.meta.dirname, '..');
const MIB = 1024 * 1024;
/** The sizes copied, per output; the first is the one the summary's headline figures describe. */
export const OUTPUT_SIZES_MIB = [25, 100] as const;
export const OUTPUT_BYTES = OUTPUT_SIZES_MIB[0] * MIB;
export const OUTPUTS = 4;
export const RSS_GOAL_BYTES = 64 * MIB;
/** Peak RSS growth copying the largest outputs, over the growth copying the smallest. */
export const RSS_SIZE_RATIO_GOAL = 1.15;
export const WALL_GOAL_RATIO = 1.3;
/** S3 requests per output under one part. */
export const SMALL_OUTPUT_REQUESTS_GOAL = 1;

export interface CopyBenchOptions {
  /** Fresh worker processes per size, each measuring one copy and its baselines (medians reported). @default 5 */
  repetitions?: number;
  /** @default OUTPUT_SIZES_MIB */
  sizesMiB?: readonly number[];
}

export interface CopySizeResult {
  outputs: number;
  outputBytesEach: number;
  totalBytes: number;
  copyWallMs: number;
  /** Median over the fresh worker processes. */
  copyPeakRssGrowthMiB: number;
  copyMaxPeakRssGrowthMiB: number;
  copyMinPeakRssGrowthMiB: number;
  copyThroughputMiBPerSecond: number;
  singlePutWallMs: number;
  parallelPutsWallMs: number;
  /** Median of the runs' ratios (each run's copy over its own PutObject, same process): the goal's figure. */
  wallRatioToSinglePut: number;
  wallRatioToSinglePutMin: number;
  wallRatioToSinglePutMax: number;
  wallRatioToParallelPuts: number;
  /** S3 requests per output, by command, in the first run (the same in every run). */
  s3RequestsPerOutput: Record<string, number>;
  runs: {
    copyWallMs: number;
    copyPeakRssGrowthMiB: number;
    copyPeakHeapUsedGrowthMiB: number;
    copyPeakArrayBuffersGrowthMiB: number;
    singlePutWallMs: number;
    parallelPutsWallMs: number;
  }[];
}

export interface CopyResult {
  /** The first size's figures, as before (the summary's headline). */
  outputs: number;
  outputBytesEach: number;
  totalBytes: number;
  partSizeBytes: number;
  partsInFlight: number;
  repetitions: number;
  peakSource: string;
  copyWallMs: number;
  copyPeakRssGrowthMiB: number;
  copyMaxPeakRssGrowthMiB: number;
  copyThroughputMiBPerSecond: number;
  singlePutWallMs: number;
  parallelPutsWallMs: number;
  /** copy wall / one PutObject of the same total bytes: the worst size's median ratio. */
  wallRatioToSinglePut: number;
  wallRatioToParallelPuts: number;
  rssGoalMiB: number;
  wallGoalRatio: number;
  rssSizeRatioGoal: number;
  /** Worst-run peak growth at the largest size / worst-run peak growth at the smallest. */
  rssSizeRatio: number;
  /** S3 requests per small output (under one part), from the warm-up copies. */
  smallOutputS3RequestsPerOutput: number;
  /** Whether every goal of {@link copyGoals} is met (the verdicts themselves live in results.json's goals). */
  goalMet: boolean;
  sizes: CopySizeResult[];
  runs: CopySizeResult['runs'];
}

export async function runCopyBenchmark(options: CopyBenchOptions = {}): Promise<CopyResult> {
  const repetitions = options.repetitions ?? 5;
  const sizesMiB = options.sizesMiB ?? OUTPUT_SIZES_MIB;
  const [moto, simulator] = await Promise.all([
    startMotoServer(),
    startSimulator({
      knobs: {
        queue_delay_s: 0,
        run_delay_s: 0,
        output_min_bytes: 0,
        output_count: OUTPUTS,
        output_key: 'images',
      },
    }),
  ]);
  try {
    // Outputs are sized when a job is submitted: a small job to warm up with, then the big ones.
    const warmUpUrls = await finishedOutputs(simulator.baseUrl, simulator.token);
    const sized: { bytes: number; urls: string[] }[] = [];
    for (const mib of sizesMiB) {
      await simulator.admin.setKnobs({ output_min_bytes: mib * MIB });
      sized.push({ bytes: mib * MIB, urls: await finishedOutputs(simulator.baseUrl, simulator.token) });
    }
    // The simulator renders an output on its first download: do that now, outside any measurement.
    for (const url of [...warmUpUrls, ...sized.flatMap((s) => s.urls)])
      await (await fetch(url)).arrayBuffer();

    const sizes: CopySizeResult[] = [];
    const small: number[] = [];
    let first: CopyWorkerResult | undefined;
    for (const { bytes, urls } of sized) {
      const config: CopyWorkerConfig = {
        bucket: 'flux-edit-bench-copy',
        warmUpUrls,
        urls,
        policy: {
          allowedHosts: [new URL(simulator.filesBaseUrl).hostname],
          maxBytes: 2 * bytes,
          allowLoopbackHttp: true,
        },
      };
      const workers: CopyWorkerResult[] = [];
      for (let rep = 0; rep < repetitions; rep++) workers.push(await runWorker(config, moto.endpoint));
      first ??= workers[0];
      small.push(...workers.map((w) => total(w.smallRequestsPerOutput)));
      sizes.push(sizeFigures(bytes, workers));
    }
    const head = sizes[0]!;
    const last = sizes.at(-1)!;
    const worstGrowth = Math.max(...sizes.map((s) => s.copyMaxPeakRssGrowthMiB));
    const rssSizeRatio = round(last.copyMaxPeakRssGrowthMiB / head.copyMaxPeakRssGrowthMiB, 2);
    const smallRequests = Math.max(...small);
    const result: CopyResult = {
      outputs: head.outputs,
      outputBytesEach: head.outputBytesEach,
      totalBytes: head.totalBytes,
      partSizeBytes: first!.partSizeBytes,
      partsInFlight: first!.partsInFlight,
      repetitions,
      peakSource: first!.peakSource,
      copyWallMs: head.copyWallMs,
      copyPeakRssGrowthMiB: head.copyPeakRssGrowthMiB,
      copyMaxPeakRssGrowthMiB: worstGrowth,
      copyThroughputMiBPerSecond: head.copyThroughputMiBPerSecond,
      singlePutWallMs: head.singlePutWallMs,
      parallelPutsWallMs: head.parallelPutsWallMs,
      wallRatioToSinglePut: Math.max(...sizes.map((s) => s.wallRatioToSinglePut)),
      wallRatioToParallelPuts: head.wallRatioToParallelPuts,
      rssGoalMiB: RSS_GOAL_BYTES / MIB,
      wallGoalRatio: WALL_GOAL_RATIO,
      rssSizeRatioGoal: RSS_SIZE_RATIO_GOAL,
      rssSizeRatio,
      smallOutputS3RequestsPerOutput: smallRequests,
      goalMet: false,
      sizes,
      runs: head.runs,
    };
    result.goalMet = copyGoals(result).every((g) => g.met);
    return result;
  } finally {
    await Promise.all([simulator.close(), moto.stop()]);
  }
}

/**
 * The goals, judged on the runs of every size: the one source of the summary's rows and of
 * the copy section's verdicts in BENCHMARKS.md.
 */
export function copyGoals(copy: CopyResult): GoalFigure[] {
  const mib = (bytes: number) => round(bytes / MIB, 0);
  return [
    ...copy.sizes.map((size) =>
      goal({
        id: `copy.rss-growth-${mib(size.outputBytesEach)}mib`,
        label: `copy ${size.outputs} × ${mib(size.outputBytesEach)} MiB: peak RSS growth`,
        unit: 'MiB',
        figure: spread(size.runs.map((run) => run.copyPeakRssGrowthMiB)),
        judgedOn: 'max',
        goal: { op: '<=', value: copy.rssGoalMiB },
        baseline: 'RSS before the copy, same process',
      }),
    ),
    goal({
      id: 'copy.rss-size-ratio',
      label: 'copy: peak RSS growth, largest outputs / smallest (worst runs)',
      unit: '×',
      figure: spread([copy.rssSizeRatio]),
      goal: { op: '<=', value: copy.rssSizeRatioGoal },
      baseline: 'the same copy of the smallest outputs, same run',
    }),
    ...copy.sizes.map((size) =>
      goal({
        id: `copy.wall-ratio-${mib(size.outputBytesEach)}mib`,
        label: `copy ${size.outputs} × ${mib(size.outputBytesEach)} MiB: wall / one PutObject`,
        unit: '×',
        figure: spread(size.runs.map((run) => run.copyWallMs / run.singlePutWallMs)),
        goal: { op: '<=', value: copy.wallGoalRatio },
        baseline: 'one PutObject of the same bytes, same process and endpoint, right after',
      }),
    ),
    goal({
      id: 'copy.requests-per-small-output',
      label: 'copy: S3 requests per small output',
      unit: 'requests',
      figure: spread([copy.smallOutputS3RequestsPerOutput]),
      goal: { op: '==', value: SMALL_OUTPUT_REQUESTS_GOAL },
      baseline: 'absolute',
    }),
  ];
}

function total(counts: Record<string, number>): number {
  return round(
    Object.values(counts).reduce((sum, count) => sum + count, 0),
    2,
  );
}

function sizeFigures(outputBytesEach: number, workers: CopyWorkerResult[]): CopySizeResult {
  const first = workers[0]!;
  const copyWall = median(workers.map((w) => w.copy.wallMs));
  const copyPeaks = workers.map((w) => w.copy.peakRssGrowthBytes);
  const singleWall = median(workers.map((w) => w.singlePut.wallMs));
  const parallelWall = median(workers.map((w) => w.parallelPuts.wallMs));
  const ratios = workers.map((w) => w.copy.wallMs / w.singlePut.wallMs);
  return {
    outputs: first.outputs,
    outputBytesEach,
    totalBytes: first.totalBytes,
    copyWallMs: round(copyWall, 0),
    copyPeakRssGrowthMiB: round(median(copyPeaks) / MIB, 1),
    copyMaxPeakRssGrowthMiB: round(Math.max(...copyPeaks) / MIB, 1),
    copyMinPeakRssGrowthMiB: round(Math.min(...copyPeaks) / MIB, 1),
    copyThroughputMiBPerSecond: round(first.totalBytes / MIB / (copyWall / 1000), 1),
    singlePutWallMs: round(singleWall, 0),
    parallelPutsWallMs: round(parallelWall, 0),
    // Each run's copy and baseline share a process and the machine's load of that moment, so the
    // ratio is taken per run and its median judged (a ratio of medians would pair unrelated runs).
    wallRatioToSinglePut: round(median(ratios), 2),
    wallRatioToSinglePutMin: round(Math.min(...ratios), 2),
    wallRatioToSinglePutMax: round(Math.max(...ratios), 2),
    wallRatioToParallelPuts: round(copyWall / parallelWall, 2),
    s3RequestsPerOutput: first.copyRequestsPerOutput,
    runs: workers.map((w) => ({
      copyWallMs: round(w.copy.wallMs, 0),
      copyPeakRssGrowthMiB: round(w.copy.peakRssGrowthBytes / MIB, 1),
      copyPeakHeapUsedGrowthMiB: round(w.copy.peakHeapUsedGrowthBytes / MIB, 1),
      copyPeakArrayBuffersGrowthMiB: round(w.copy.peakArrayBuffersGrowthBytes / MIB, 1),
      singlePutWallMs: round(w.singlePut.wallMs, 0),
      parallelPutsWallMs: round(w.parallelPuts.wallMs, 0),
    })),
  };
}

/** Submits one edit to the simulator and returns its output URLs once it has finished. */
async function finishedOutputs(baseUrl: string, token: string): Promise<string[]> {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const submitted = await fetch(`${baseUrl}/v1/models/blackforestlabs/flux-2/flash/edit`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ prompt: 'benchmark copy', image_urls: ['https://inputs.example.com/cup.png'] }),
  });
  if (!submitted.ok)
    throw new Error(`simulator submit answered ${submitted.status}: ${await submitted.text()}`);
  const { request_id: id } = (await submitted.json()) as { request_id: string };
  for (let attempt = 0; attempt < 100; attempt++) {
    const result = (await (await fetch(`${baseUrl}/v1/requests/${id}/result`, { headers })).json()) as {
      status: string;
      output?: { images?: string[] };
    };
    if (result.output?.images) return result.output.images;
    await new Promise((wake) => setTimeout(wake, 100));
  }
  throw new Error('the simulator job did not finish');
}

function runWorker(config: CopyWorkerConfig, endpoint: string): Promise<CopyWorkerResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      nodeBinary(),
      [
        // The flags the result function is deployed with: the copy's memory depends on them.
        ...(FUNCTIONS.result.nodeOptions ?? []),
        '--expose-gc',
        '--import',
        'tsx',
        resolve(REPO_ROOT, 'bench/copy-worker.ts'),
      ],
      {
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          AWS_ENDPOINT_URL: endpoint,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'bench',
          AWS_SECRET_ACCESS_KEY: 'bench',
          BENCH_COPY_CONFIG: JSON.stringify(config),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = stdout.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('{')) {
        reject(new Error(`copy worker exited ${code}: ${stderr.trim().slice(-2000)}`));
        return;
      }
      resolvePromise(JSON.parse(line) as CopyWorkerResult);
    });
  });
}
