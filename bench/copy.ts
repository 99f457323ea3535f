import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { startMotoServer } from '../local/moto-server.ts';
import { startSimulator } from '../simulator/index.ts';
import type { CopyWorkerConfig, CopyWorkerResult } from './copy-worker.ts';
import { nodeBinary } from './lib/node-binary.ts';
import { median, round } from './lib/stats.ts';

/*
 * Copy benchmark: the real copyOutputs moving 4 outputs of 25 MiB each from the RunComfy
 * simulator (padded, still valid PNGs) into moto's S3, in fresh child processes so that each
 * peak RSS is the copy's alone (the simulator serving the bytes lives in this process). The
 * baseline, measured in the same child right after the copy, to the same endpoint: one
 * PutObject of the same total bytes from a buffer already in memory (the wording), plus,
 * for context, four parallel PutObjects of 25 MiB each (the same objects without the download).
 */

const REPO_ROOT = resolve(import.meta.dirname, '..');
export const OUTPUT_BYTES = 25 * 1024 * 1024;
export const OUTPUTS = 4;
export const RSS_GOAL_BYTES = 64 * 1024 * 1024;
export const WALL_GOAL_RATIO = 1.5;
const MIB = 1024 * 1024;

export interface CopyBenchOptions {
  /** Fresh worker processes, each measuring one copy and its baselines (medians reported). @default 3 */
  repetitions?: number;
}

export interface CopyResult {
  outputs: number;
  outputBytesEach: number;
  totalBytes: number;
  partSizeBytes: number;
  partsInFlight: number;
  repetitions: number;
  peakSource: string;
  copyWallMs: number;
  /** Median over the fresh worker processes. */
  copyPeakRssGrowthMiB: number;
  copyMaxPeakRssGrowthMiB: number;
  copyThroughputMiBPerSecond: number;
  singlePutWallMs: number;
  parallelPutsWallMs: number;
  /** copy wall / one PutObject of the same total bytes: the goal's ratio. */
  wallRatioToSinglePut: number;
  wallRatioToParallelPuts: number;
  rssGoalMiB: number;
  wallGoalRatio: number;
  rssGoalMet: boolean;
  wallGoalMet: boolean;
  goalMet: boolean;
  runs: {
    copyWallMs: number;
    copyPeakRssGrowthMiB: number;
    singlePutWallMs: number;
    parallelPutsWallMs: number;
  }[];
}

export async function runCopyBenchmark(options: CopyBenchOptions = {}): Promise<CopyResult> {
  const repetitions = options.repetitions ?? 3;
  const [moto, simulator] = await Promise.all([
    startMotoServer(),
    startSimulator({
      knobs: {
        queue_delay_s: 0,
        run_delay_s: 0,
        output_min_bytes: OUTPUT_BYTES,
        output_count: OUTPUTS,
        output_key: 'images',
      },
    }),
  ]);
  try {
    // Outputs are sized when a job is submitted: a small job to warm up with, then the big one.
    await simulator.admin.setKnobs({ output_min_bytes: 0 });
    const warmUpUrls = await finishedOutputs(simulator.baseUrl, simulator.token);
    await simulator.admin.setKnobs({ output_min_bytes: OUTPUT_BYTES });
    const urls = await finishedOutputs(simulator.baseUrl, simulator.token);
    // The simulator renders an output on its first download: do that now, outside any measurement.
    for (const url of [...warmUpUrls, ...urls]) await (await fetch(url)).arrayBuffer();
    const config: CopyWorkerConfig = {
      bucket: 'flux-edit-bench-copy',
      warmUpUrls,
      urls,
      policy: {
        allowedHosts: [new URL(simulator.filesBaseUrl).hostname],
        maxBytes: 50 * MIB,
        allowLoopbackHttp: true,
      },
    };
    const workers: CopyWorkerResult[] = [];
    for (let rep = 0; rep < repetitions; rep++) workers.push(await runWorker(config, moto.endpoint));
    const first = workers[0]!;
    const copyWall = median(workers.map((w) => w.copy.wallMs));
    const copyPeaks = workers.map((w) => w.copy.peakRssGrowthBytes);
    const singleWall = median(workers.map((w) => w.singlePut.wallMs));
    const parallelWall = median(workers.map((w) => w.parallelPuts.wallMs));
    // Memory is judged on the worst run: a peak is a peak.
    const rssGoalMet = Math.max(...copyPeaks) <= RSS_GOAL_BYTES;
    const wallGoalMet = copyWall <= WALL_GOAL_RATIO * singleWall;
    return {
      outputs: first.outputs,
      outputBytesEach: OUTPUT_BYTES,
      totalBytes: first.totalBytes,
      partSizeBytes: first.partSizeBytes,
      partsInFlight: first.partsInFlight,
      repetitions,
      peakSource: first.peakSource,
      copyWallMs: round(copyWall, 0),
      copyPeakRssGrowthMiB: round(median(copyPeaks) / MIB, 1),
      copyMaxPeakRssGrowthMiB: round(Math.max(...copyPeaks) / MIB, 1),
      copyThroughputMiBPerSecond: round(first.totalBytes / MIB / (copyWall / 1000), 1),
      singlePutWallMs: round(singleWall, 0),
      parallelPutsWallMs: round(parallelWall, 0),
      wallRatioToSinglePut: round(copyWall / singleWall, 2),
      wallRatioToParallelPuts: round(copyWall / parallelWall, 2),
      rssGoalMiB: RSS_GOAL_BYTES / MIB,
      wallGoalRatio: WALL_GOAL_RATIO,
      rssGoalMet,
      wallGoalMet,
      goalMet: rssGoalMet && wallGoalMet,
      runs: workers.map((w) => ({
        copyWallMs: round(w.copy.wallMs, 0),
        copyPeakRssGrowthMiB: round(w.copy.peakRssGrowthBytes / MIB, 1),
        singlePutWallMs: round(w.singlePut.wallMs, 0),
        parallelPutsWallMs: round(w.parallelPuts.wallMs, 0),
      })),
    };
  } finally {
    await Promise.all([simulator.close(), moto.stop()]);
  }
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
      ['--expose-gc', '--import', 'tsx', resolve(REPO_ROOT, 'bench/copy-worker.ts')],
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
