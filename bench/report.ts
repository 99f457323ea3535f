import type { ColdStartResult } from './cold-start.ts';
import type { CopyResult } from './copy.ts';
import type { CostResult } from './cost.ts';
import type { PollCaseResult, PollResult } from './poll.ts';
import type { ThroughputResult } from './throughput.ts';

/** What `bench/results.json` holds. */
export interface BenchResults {
  date: string;
  /** When each benchmark's figures were taken (a benchmark run alone keeps the others'). */
  measuredAt?: Record<string, string>;
  node: string;
  machine: { cpus: number; model: string; memoryGiB: number; platform: string; loadAverage1mAtStart: number };
  poll?: PollResult;
  coldStart?: ColdStartResult;
  copy?: CopyResult;
  throughput?: ThroughputResult;
  cost?: CostResult;
}

export interface SummaryRow {
  benchmark: string;
  figure: string;
  value: string;
  goal: string;
  met: boolean | undefined;
}

const fmt = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

export function summaryRows(results: BenchResults): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const { poll, coldStart, copy, throughput, cost } = results;
  if (poll) {
    for (const [key, label] of [
      ['logNormal', 'log-normal'],
      ['queueBurst', 'queue burst'],
    ] as const) {
      const poll_case = poll.cases[key];
      const ours = poll_case.policies.find((p) => p.schedule === 'ours')!;
      rows.push({
        benchmark: `poll (${label})`,
        figure: 'status calls / mean delay / p95 delay',
        value: `${fmt(ours.meanStatusCallsPerJob)} / ${fmt(ours.meanAddedDelaySeconds)} s / ${fmt(ours.p95AddedDelaySeconds)} s`,
        goal: `Pareto vs fixed; mean ≤ ${poll.meanAddedDelayGoalSeconds} s`,
        met: poll_case.paretoDominant && poll_case.meanAddedDelayGoalMet,
      });
    }
  }
  if (coldStart) {
    for (const f of coldStart.functions) {
      rows.push({
        benchmark: `cold start (${f.function})`,
        figure: 'init over bare node / bundle',
        value: f.measured
          ? `${fmt(f.initMs!, 1)} ms / ${fmt(f.bundleBytes! / 1000, 0)} KB`
          : `not measured (${f.error})`,
        goal: `≤ ${f.goalMs} ms`,
        met: f.measured ? f.goalMet : undefined,
      });
    }
  }
  if (copy) {
    rows.push({
      benchmark: 'copy (4 × 25 MiB)',
      figure: 'peak RSS growth (worst run)',
      value: `${fmt(copy.copyMaxPeakRssGrowthMiB, 1)} MiB (median ${fmt(copy.copyPeakRssGrowthMiB, 1)})`,
      goal: `≤ ${copy.rssGoalMiB} MiB`,
      met: copy.rssGoalMet,
    });
    rows.push({
      benchmark: 'copy (4 × 25 MiB)',
      figure: 'wall / one PutObject of the same bytes',
      value: `${fmt(copy.copyWallMs, 0)} ms / ${fmt(copy.singlePutWallMs, 0)} ms = ${fmt(copy.wallRatioToSinglePut)}×`,
      goal: `≤ ${copy.wallGoalRatio}×`,
      met: copy.wallGoalMet,
    });
  }
  if (throughput) {
    rows.push({
      benchmark: `throughput (${throughput.jobs} jobs)`,
      figure: 'succeeded / jobs per second',
      value: `${throughput.succeeded}/${throughput.jobs} / ${fmt(throughput.jobsPerSecond)} jobs/s`,
      goal: 'all succeed',
      met: throughput.allSucceeded,
    });
    rows.push({
      benchmark: `throughput (${throughput.jobs} jobs)`,
      figure: 'AWS requests per job',
      value: Object.entries(throughput.awsRequestsPerJobByService)
        .map(([service, count]) => `${service} ${fmt(count, 1)}`)
        .join(', '),
      goal: '—',
      met: undefined,
    });
  }
  if (cost) {
    rows.push({
      benchmark: 'cost',
      figure: 'USD per 1,000 jobs',
      value: `$${fmt(cost.pipelineUsdPer1000Jobs, 4)} (typical outputs $${fmt(cost.pipelineUsdPer1000JobsWithTypicalOutputs, 4)})`,
      goal: `≤ $${cost.goalUsdPer1000Jobs}`,
      met: cost.pipelineUsdPer1000Jobs <= cost.goalUsdPer1000Jobs,
    });
    rows.push({
      benchmark: 'cost',
      figure: 'vs Step Functions loop / sleeping Lambda',
      value: `${fmt(cost.ratioToStepFunctions, 3)} of $${fmt(cost.stepFunctionsUsdPer1000Jobs, 4)} / ${fmt(cost.ratioToSleepingLambda, 3)} of $${fmt(cost.sleepingLambdaUsdPer1000Jobs, 4)}`,
      goal: `≤ ${fmt(cost.goalRatioToStepFunctions)} of SFN`,
      met: cost.ratioToStepFunctions <= cost.goalRatioToStepFunctions,
    });
  }
  return rows;
}

export function consoleTable(rows: SummaryRow[]): string {
  const headers = ['benchmark', 'figure', 'value', 'goal', 'met'];
  const cells = rows.map((row) => [row.benchmark, row.figure, row.value, row.goal, metText(row.met)]);
  const widths = headers.map((header, index) =>
    Math.max(header.length, ...cells.map((cell) => cell[index]!.length)),
  );
  const line = (values: string[]) => values.map((value, index) => value.padEnd(widths[index]!)).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

const metText = (met: boolean | undefined) => (met === undefined ? '—' : met ? 'yes' : 'NO');

function markdownTable(headers: string[], rows: (string | number)[][]): string {
  const escapeCell = (value: string | number) => String(value).replaceAll('|', '\\|');
  return [
    `| ${headers.join(' | ')} |`,
    `| ${headers.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(escapeCell).join(' | ')} |`),
  ].join('\n');
}

/** Decisions the figures made, with the figures of the design they replaced. */
const DECISIONS = `### Decisions taken from these figures

- **Poll schedule** (functions/core/jobs/poll-schedule.ts). The schedule before this benchmark (first
  look at 2 s; every 2 s to 20 s, 3 s to 60 s, 5 s to 180 s, then 10 s; elapsed counted from the
  upstream submission) measured, on the same seed: log-normal 6.08 calls, mean 1.10 s, p95 2.22 s;
  queue burst 11.66 calls, **mean 1.93 s** (goal ≤ 1.5 s), p95 4.51 s. Its backoff clock includes the
  queue wait, so a job that started running late in a burst was polled every 5–10 s. Now: first
  look at 3 s, every 2 s up to 120 s, then 3/5/10 s. A first look at 2 s instead of 3 s costs half a
  call per job and with it the schedule is no better than a fixed 2 s poller. (The cleaner fix would
  be a backoff clock that starts when the run starts — \`startedAt\` — which needs poll-job.ts to pass it.)
- **Copy part size** (functions/core/outputs/copy-outputs.ts). In a sweep on 2026-11-25 (5/6/8 MiB parts ×
  1/2 in flight, 4 fresh processes each), 8 MiB × 2 in flight peaked at 134–172 MiB over idle for 4 × 25 MiB
  outputs, 5 MiB × 2 at 117–137 MiB, 5 MiB × 1 at 90–110 MiB, with no wall-time difference the machine's
  noise could show. Now 5 MiB × 1. Copying the outputs one at a time as well (\`concurrency: 1\`) brought
  the peak to ~61 MiB, under the goal, at ~1.5× the wall time: not taken, as it trades the other goal away.
- **Cost levers the figures point at** (not changed here): the job item is just over 1 KB, so every write costs
  2 WRU (DynamoDB writes are the largest line); under 1 KB they would cost half. The hash-stamping CopyObject is
  a second S3 PUT-class request per output (a fifth of the total).
`;

export function benchmarksMarkdown(results: BenchResults, charts: string[]): string {
  const parts: string[] = [];
  const { machine } = results;
  parts.push(`# Benchmarks

Generated by \`npm run bench\` (not part of \`npm test\`) on **${results.date}**, Node ${results.node},
${machine.cpus} × ${machine.model}, ${machine.memoryGiB} GiB RAM, ${machine.platform}; 1-minute load
average at start ${machine.loadAverage1mAtStart} (other work on the machine shows up in the timings).
${staleNote(results)}Figures: [\`bench/results.json\`](bench/results.json). One benchmark alone: \`npm run bench -- poll\`
(\`cold-start\`, \`copy\`, \`throughput\`, \`cost\`; the others keep their last figures).

## Summary

${markdownTable(
  ['benchmark', 'figure', 'value', 'goal', 'met'],
  summaryRows(results).map((row) => [row.benchmark, row.figure, row.value, row.goal, metText(row.met)]),
)}
`);
  if (results.poll) parts.push(pollSection(results.poll, charts));
  if (results.coldStart) parts.push(coldStartSection(results.coldStart, charts));
  if (results.copy) parts.push(copySection(results.copy));
  if (results.throughput) parts.push(throughputSection(results.throughput));
  if (results.cost) parts.push(costSection(results.cost, charts));
  parts.push(DECISIONS);
  return `${parts.join('\n')}`;
}

function staleNote(results: BenchResults): string {
  const older = Object.entries(results.measuredAt ?? {}).filter(
    ([, at]) => at.slice(0, 16) !== results.date.slice(0, 16),
  );
  if (older.length === 0) return '';
  return `Kept from earlier runs: ${older.map(([name, at]) => `${name} (${at})`).join(', ')}.\n`;
}

function pollCaseTable(poll_case: PollCaseResult): string {
  return markdownTable(
    ['schedule', 'status calls / job', 'mean added delay (s)', 'p50 (s)', 'p95 (s)', 'max (s)'],
    poll_case.policies.map((p) => [
      p.schedule === 'ours' ? '**ours**' : p.schedule,
      fmt(p.meanStatusCallsPerJob),
      fmt(p.meanAddedDelaySeconds, 3),
      fmt(p.p50AddedDelaySeconds, 3),
      fmt(p.p95AddedDelaySeconds, 3),
      fmt(p.maxAddedDelaySeconds, 2),
    ]),
  );
}

function pollSection(poll: PollResult, charts: string[]): string {
  const { logNormal, queueBurst } = poll.cases;
  const verdict = (c: PollCaseResult) =>
    `${c.paretoDominant ? 'no fixed interval is better on both calls and p95 delay' : `dominated by ${c.dominatedBy.join(', ')}`}; mean added delay ${c.meanAddedDelayGoalMet ? 'within' : 'over'} ${poll.meanAddedDelayGoalSeconds} s`;
  const sensitivity = poll.burstWorkersSensitivity
    .map(
      (s) =>
        `${s.workers} workers: ${fmt(s.meanStatusCallsPerJob)} calls, mean ${fmt(s.meanAddedDelaySeconds)} s, p95 ${fmt(s.p95AddedDelaySeconds)} s${s.goalMet ? '' : ' (goal missed)'}`,
    )
    .join('; ');
  return `## 1. Poll schedule

${poll.jobsPerCase.toLocaleString('en-US')} simulated jobs per case (seeded PRNG, seed ${poll.seed}) through the real
\`nextPollDelaySeconds\`: first call ${poll.firstPollDelaySeconds} s after the upstream submission, then the schedule's whole-second
SQS delays (fixed pollers: every n s from n s). Added delay = the call that sees the job finished − the upstream completion
(handed to the result handler at once; SQS and Lambda latency not modelled). Run time log-normal, p50 ${poll.latencyModel.p50Seconds} s,
p95 ${poll.latencyModel.p95Seconds} s (μ = ${poll.latencyModel.mu}, σ = ${poll.latencyModel.sigma}).

**Log-normal, no queue** (mean run ${logNormal.meanUpstreamSeconds} s): ${verdict(logNormal)}.

${pollCaseTable(logNormal)}

**Queue burst**: ${queueBurst.description} (mean completion ${queueBurst.meanUpstreamSeconds} s after submission): ${verdict(queueBurst)}.

${pollCaseTable(queueBurst)}

Sensitivity of the burst case to RunComfy's (unknown) concurrency, our schedule: ${sensitivity}.

${charts
  .filter((c) => c.startsWith('poll'))
  .map((c) => `![${c}](bench/${c})`)
  .join(' ')}
`;
}

function coldStartSection(cold: ColdStartResult, charts: string[]): string {
  const rows = cold.functions.map((f) => [
    f.function,
    f.measured ? fmt(f.bundleBytes! / 1000, 0) : '—',
    f.measured ? fmt(f.initMs!, 1) : '—',
    f.measured ? fmt(f.initMsWithoutSourceMaps!, 1) : '—',
    `≤ ${f.goalMs}`,
    f.measured ? metText(f.goalMet) : (f.error ?? 'not measured'),
    (f.largestPackages ?? []).map((p) => `${p.package} ${fmt(p.bytes / 1000, 0)}`).join(', '),
  ]);
  const ref = cold.reference;
  const causes = coldStartCauses(cold);
  return `## 2. Cold start

Each function bundled with the stack's own esbuild settings (\`nodejsBundling()\`: ${cold.esbuild.format}, ${cold.esbuild.target},
minify ${cold.esbuild.minify}, source map ${cold.esbuild.sourcemap} without sources, banner, AWS SDK bundled) and imported
in a fresh \`${cold.nodeBinary}\` (${cold.nodeVersion}) process with dummy configuration; init = median wall time of that
minus the median of a bare \`node -e 0\` (${cold.bareNodeMsWithSourceMaps} ms), ${cold.runsPerMeasurement} interleaved runs each, with the deployed
\`NODE_OPTIONS=--enable-source-maps\` (and without, for comparison). Bundles and esbuild metafiles: \`${cold.bundlesDir}/\`.

${markdownTable(['function', 'bundle (KB)', 'init (ms)', 'init, no source maps (ms)', 'goal (ms)', 'met', 'largest packages in the bundle (KB)'], rows)}

**Yardstick.** The issue's prototype bundle with only the SQS and DynamoDB clients (≈ ${ref.prototypeBundleKB} KB, +${ref.prototypeInitMs} ms there) measures
${fmt(ref.bundleBytes / 1000, 0)} KB and **+${fmt(ref.initMs, 1)} ms** here (${fmt(ref.initMsWithoutSourceMaps, 1)} ms without source maps): this machine is
~${fmt(ref.machineFactor, 1)}× slower than the one the goals were set on, and no function that loads an AWS SDK v3 client can meet
a 25 ms goal on it.

${causes}

${charts
  .filter((c) => c.startsWith('cold') || c.startsWith('bundle'))
  .map((c) => `![${c}](bench/${c})`)
  .join(' ')}
`;
}

/** Reads the causes off the figures, so the text stays true as the bundles change. */
function coldStartCauses(cold: ColdStartResult): string {
  const measured = cold.functions.filter((f) => f.measured);
  const lines: string[] = ['**Why the functions miss, from the metafiles:**', ''];
  const zod = measured.filter((f) =>
    (f.largestPackages ?? []).some((p) => p.package === 'zod' && p.bytes > 100_000),
  );
  if (zod.length > 0) {
    const bytes = zod[0]!.largestPackages!.find((p) => p.package === 'zod')!.bytes;
    lines.push(
      `- **Classic zod in every bundle** (${fmt(bytes / 1000, 0)} KB of ${zod.map((f) => f.function).join(', ')}), although the code imports \`zod/mini\`: \`import { z } from 'zod/mini'\` takes the namespace object \`z\`, which holds every export (locales, JSON Schema, the JIT), so nothing can be tree-shaken. \`import * as z from 'zod/mini'\` bundles ~35–45 KB instead: an import-line change in functions/core (config, edit-input, edit-request, jobs/messages, notify/events, runcomfy/responses, webhooks/webhook-message) and functions/submit/handler.ts. Tried on these bundles: ~390 KB less each and ~15–35 ms less init here.`,
    );
  }
  const s3 = measured.filter(
    (f) =>
      ['poller', 'webhook'].includes(f.function) &&
      (f.largestPackages ?? []).some((p) => p.package === '@aws-sdk/client-s3'),
  );
  if (s3.length > 0) {
    lines.push(
      `- **The S3 client (and the presigner) in ${s3.map((f) => f.function).join(' and ')}**, needed only to presign \`s3://\` inputs when a refused submission is retried: \`createJobDeps\` imports \`createS3Client\` and \`resolveImageUrls\`. A lazy \`import()\` does not take it out: the stack bundles each function into one file, so esbuild inlines the lazily imported code anyway (tried: splitting the S3 presigning and the SNS/EventBridge notifier into lazily imported modules made the bundles larger and init no faster). Only several files per function (esbuild \`splitting\`, which NodejsFunction does not do) or not depending on the SDK client would.`,
    );
  }
  const maps = measured.map((f) => f.initMs! - f.initMsWithoutSourceMaps!);
  const meanMaps = maps.reduce((a, b) => a + b, 0) / Math.max(1, maps.length);
  lines.push(
    `- **Source maps**: \`--enable-source-maps\` makes Node read and parse each ~1.5× bundle-sized map at load: ${fmt(meanMaps, 0)} ms on average here (init with vs without).`,
  );
  lines.push(
    "- **The AWS SDK itself**: the SQS + DynamoDB clients alone cost the yardstick above; their `@smithy/core` (~140 KB), nested STS/SSO clients for the credential chain and the Node built-ins they load (http, https, crypto, child_process, …) are the floor of any function here. For comparison, a DynamoDB call signed with `@smithy/signature-v4` and sent with `fetch` bundles to ~21 KB, and with Powertools and `zod/mini` ~77 KB, +20–27 ms here (≈ 10–13 ms at the yardstick's scale, before the project's own ~45 KB): the only way found toward a 25 ms poller.",
  );
  return lines.join('\n');
}

function copySection(copy: CopyResult): string {
  return `## 3. Copy

The real \`copyOutputs\` copying ${copy.outputs} outputs of ${fmt(copy.outputBytesEach / 1048576, 0)} MiB (simulator, \`output_min_bytes\`; valid PNGs) into moto S3
with ${fmt(copy.partSizeBytes / 1048576, 0)} MiB parts × ${copy.partsInFlight} in flight per output, ${copy.repetitions} fresh processes. Peak RSS growth =
the kernel's high-water mark (VmHWM, reset before the copy) − RSS before the copy, after a small warm-up copy. Baseline
in the same process, same endpoint, right after: **one PutObject of all ${fmt(copy.totalBytes / 1048576, 0)} MiB from a buffer in memory** (the
issue's wording, read literally: the same bytes, one request); four parallel 25 MiB PutObjects shown for context.

${markdownTable(
  ['figure', 'value', 'goal', 'met'],
  [
    [
      'copy wall time (median)',
      `${fmt(copy.copyWallMs, 0)} ms (${fmt(copy.copyThroughputMiBPerSecond, 1)} MiB/s)`,
      '',
      '',
    ],
    ['one PutObject of the same bytes', `${fmt(copy.singlePutWallMs, 0)} ms`, '', ''],
    ['four parallel PutObjects', `${fmt(copy.parallelPutsWallMs, 0)} ms`, '', ''],
    [
      'copy / one PutObject',
      `${fmt(copy.wallRatioToSinglePut)}×`,
      `≤ ${copy.wallGoalRatio}×`,
      metText(copy.wallGoalMet),
    ],
    [
      'peak RSS growth, median / worst',
      `${fmt(copy.copyPeakRssGrowthMiB, 1)} / ${fmt(copy.copyMaxPeakRssGrowthMiB, 1)} MiB`,
      `≤ ${copy.rssGoalMiB} MiB`,
      metText(copy.rssGoalMet),
    ],
  ],
)}

Runs: ${copy.runs.map((r) => `${r.copyWallMs} ms / ${r.copyPeakRssGrowthMiB} MiB (put ${r.singlePutWallMs} ms)`).join('; ')}.

What the figures say: the part buffers are only part of the peak. Downloading the same 100 MiB into a hash and
nothing else (no upload) already grew RSS by ~80–100 MiB in a fresh process on this machine (measured while
choosing the part size), and by ~40–50 MiB when a GC was forced every few MiB: each streamed chunk is a new Buffer, and V8 lets ~64 MB of such external
memory pile up before it collects. Copying the outputs one at a time (\`concurrency: 1\`) peaked at ~61 MiB but
took ~1.5× longer. The copy also does more than the baseline: a streamed multipart upload with SHA-256 part
checksums, and a server-side CopyObject per output to stamp and verify the hash, which moto performs by
rewriting and rehashing every byte (on S3 that copy is server-side).
`;
}

function throughputSection(tp: ThroughputResult): string {
  const fn = (figures: ThroughputResult['lambda']) =>
    Object.entries(figures).map(([name, f]) => [
      name,
      f.memoryMb,
      f.invocations,
      f.records,
      fmt(f.meanMs, 1),
      fmt(f.p50Ms, 1),
      fmt(f.p95Ms, 1),
    ]);
  const byOperation = tp.requests
    .filter(
      (t) =>
        t.caller !== 'runtime' || /ReceiveMessage|DeleteMessage|ChangeMessageVisibility/.test(t.operation),
    )
    .filter(
      (t) => !(t.caller === 'runtime' && t.resource && !/-(submit|poll|result|webhook)$/.test(t.resource)),
    )
    .map((t) => [
      t.caller === 'runtime' ? 'event source mapping' : t.caller,
      t.service,
      t.operation,
      t.resource ?? '',
      fmt((t.count - (t.empty ?? 0)) / tp.jobs, 2),
    ]);
  return `## 4. Throughput

${tp.jobs} jobs submitted back to back (\`POST /edits\`, at most ${tp.submitConcurrency} in flight: beyond ~20 simultaneous submits the single
moto process behind the local runtime answers so slowly that submits reach their 29 s timeout) to the local pipeline (real handlers, moto, simulator with
${Object.entries(tp.simulatorKnobs)
  .map(([k, v]) => `${k} ${v}`)
  .join(', ')}; SQS driver retry ${tp.driver.retryDelaySeconds} s, long poll ${tp.driver.waitTimeSeconds} s).
All AWS requests went through a counting proxy and were attributed to the function that sent them.

- **${tp.succeeded}/${tp.jobs} succeeded** ${tp.allSucceeded ? '' : `(others: ${JSON.stringify(tp.notSucceeded)})`} in ${fmt(tp.wallSeconds, 1)} s: **${fmt(tp.jobsPerSecond)} jobs/s**; job latency p50 ${fmt(tp.p50JobSeconds)} s, p95 ${fmt(tp.p95JobSeconds)} s
  (each job waits at least the first poll delay). The bound is the emulator: moto, one Python process, used ${fmt(tp.motoCpuShare * 100, 0)} % of a core
  during the burst (this process, with every handler, the simulator and the HTTP API: ${fmt(tp.nodeCpuShare * 100, 0)} %); in AWS each invocation has its own CPU.
- **AWS requests per job**: ${Object.entries(tp.awsRequestsPerJobByService)
    .map(([s, n]) => `${s} ${fmt(n, 2)}`)
    .join(', ')}
  (of which SQS by the event source mappings: ${fmt(tp.eventSourceMappingSqsRequestsPerJob, 2)}; idle empty receives, ${tp.emptyReceivesTotal} in all, are not per job).
- **Upstream (RunComfy) calls per job**: ${Object.entries(tp.upstreamCallsPerJob)
    .map(([s, n]) => `${s} ${fmt(n, 2)}`)
    .join(', ')}.

${markdownTable(['caller', 'service', 'operation', 'queue', 'per job'], byOperation)}

Handler durations during the burst:

${markdownTable(['function', 'MB', 'invocations', 'records', 'mean (ms)', 'p50 (ms)', 'p95 (ms)'], fn(tp.lambda))}

Under light load (${tp.lightLoadJobs} jobs, one every 0.5 s, after the burst; used by the cost model):

${markdownTable(['function', 'MB', 'invocations', 'records', 'mean (ms)', 'p50 (ms)', 'p95 (ms)'], fn(tp.lambdaLightLoad))}
`;
}

/** Says so when the verdict is closer to the line than the local duration figures can resolve. */
function costMarginNote(cost: CostResult): string {
  const margin = (cost.goalUsdPer1000Jobs - cost.pipelineUsdPer1000Jobs) / cost.goalUsdPer1000Jobs;
  if (Math.abs(margin) >= 0.1) return '';
  return ` The margin is ${fmt(Math.abs(margin) * 100, 1)} % ${margin >= 0 ? 'under' : 'over'} the goal, less than the spread of the local handler durations (with mean instead of median durations: $${fmt(cost.pipelineUsdPer1000JobsWithMeanDurations, 4)}): read it as *at* the goal, and with typical 1.5 MB outputs stored for the 30-day default retention, over it ($${fmt(cost.pipelineUsdPer1000JobsWithTypicalOutputs, 4)}).`;
}

function costSection(cost: CostResult, charts: string[]): string {
  const design = (d: CostResult['designs']['pipeline']) =>
    markdownTable(
      ['item', 'per job', 'unit', 'USD per 1,000 jobs'],
      [
        ...d.lines.map((l) => [l.service, fmt(l.quantityPerJob, 4), l.unit, fmt(l.usdPer1000Jobs, 5)]),
        ['**total**', '', '', `**${fmt(d.usdPer1000Jobs, 4)}**`],
      ],
    );
  const prices = markdownTable(
    ['price', 'USD per unit', 'source'],
    Object.entries(cost.prices).map(([key, p]) => [key, p.usdPerUnit.toPrecision(4), p.source]),
  );
  return `## 5. Cost

Per 1,000 jobs, from the throughput run's request counts and light-load handler durations, at **${cost.statusCallsPerJob} status calls per job**
(the poll benchmark's log-normal figure; the fast simulator's run made ${cost.statusCallsPerJobMeasured}).

| design | USD per 1,000 jobs |
| --- | --- |
| **this pipeline** | **${fmt(cost.pipelineUsdPer1000Jobs, 4)}** (${fmt(cost.ratioToStepFunctions, 3)} of Step Functions, ${fmt(cost.ratioToSleepingLambda, 3)} of the sleeping Lambda) |
| this pipeline, as measured (${cost.statusCallsPerJobMeasured} status call(s) per job) | ${fmt(cost.designs.pipelineAsMeasured.usdPer1000Jobs, 4)} |
| this pipeline with typical 1.5 MB PNG outputs stored a month | ${fmt(cost.pipelineUsdPer1000JobsWithTypicalOutputs, 4)} |
| this pipeline, mean instead of median handler durations | ${fmt(cost.pipelineUsdPer1000JobsWithMeanDurations, 4)} |
| Step Functions Standard polling loop | ${fmt(cost.stepFunctionsUsdPer1000Jobs, 4)} |
| one Lambda sleeping while it polls | ${fmt(cost.sleepingLambdaUsdPer1000Jobs, 4)} |

Goal ≤ $${cost.goalUsdPer1000Jobs} and ≤ ${fmt(cost.goalRatioToStepFunctions)} of Step Functions: **${cost.goalMet ? 'met' : 'not met'}**.${costMarginNote(cost)}

${charts
  .filter((c) => c.startsWith('cost'))
  .map((c) => `![${c}](bench/${c})`)
  .join(' ')}

<details><summary>This pipeline, line by line</summary>

${design(cost.designs.pipeline)}

</details>

<details><summary>Step Functions loop, line by line</summary>

${design(cost.designs.stepFunctions)}

</details>

<details><summary>Sleeping Lambda, line by line</summary>

${design(cost.designs.sleepingLambda)}

</details>

Assumptions:

${cost.assumptions.map((a) => `- ${a}`).join('\n')}

Prices (${cost.pricesAsOf}; from the AWS pricing pages named, written down from knowledge, not fetched: this machine has no internet access):

${prices}
`;
}
