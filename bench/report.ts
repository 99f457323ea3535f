import type { AdmissionResult } from './admission.ts';
import type { ColdStartResult } from './cold-start.ts';
import type { CopyResult } from './copy.ts';
import { type CostResult, isCountedMethod } from './cost.ts';
import type { LatencyResult } from './latency.ts';
import type { GoalRecord } from './lib/goals.ts';
import type { Spread } from './lib/stats.ts';
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
  latency?: LatencyResult;
  admission?: AdmissionResult;
  cost?: CostResult;
  /** Per case: when it ran, how long, and the machine's load around it. */
  cases?: Record<
    string,
    { measuredAt: string; seconds: number; loadAverage1m: { before: number; after: number }; cpus: number }
  >;
  /** Every goal's figure and verdict (the summary of BENCHMARKS.md is this list). */
  goals?: GoalRecord[];
}

export interface SummaryRow {
  benchmark: string;
  figure: string;
  value: string;
  goal: string;
  met: boolean | undefined;
}

const fmt = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

/** Enough digits for a figure of this size. */
const auto = (value: number) => {
  const size = Math.abs(value);
  return fmt(value, size === 0 || size >= 100 ? 0 : size >= 10 ? 1 : size >= 0.1 ? 2 : 4);
};

export function spreadText(figure: Spread, unit = ''): string {
  if (figure.runs === 0) return 'none';
  const u = unit === '' ? '' : unit === '×' ? '×' : ` ${unit}`;
  if (figure.runs <= 1 || figure.min === figure.max)
    return `${auto(figure.median)}${u}${figure.runs <= 1 ? ' (1 run)' : ''}`;
  return `${auto(figure.median)}${u} (${auto(figure.min)}–${auto(figure.max)}, ${figure.runs} runs)`;
}

/** The goals of results.json, one row each: the one source of the summary, console and Markdown. */
export function goalRows(results: BenchResults): SummaryRow[] {
  return (results.goals ?? []).map((g) => ({
    benchmark: g.case,
    figure: g.label,
    value: spreadText(g.figure, g.unit),
    goal: `${g.judgedOn} ${g.goal.op === '<=' ? '≤' : g.goal.op === '>=' ? '≥' : '='} ${g.goal.value}${g.unit === '×' ? '×' : g.unit ? ` ${g.unit}` : ''}`,
    met: g.met,
  }));
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
- **DynamoDB writes** (the largest line; per transition under the cost section). On 2026-12-04 a job cost
  40.75 WRU at 5 status calls: the sweep index's key moved at the hand-over and the lease (2 WRU each), the
  status index's partition at the first \`running\` (2 WRU), and the admission record took 6.75 writes a job
  (2.5 of them refused by racing dispatchers, 1 making its map once per function instance). Now 30: the sweep
  time is a lower bound those writes keep, queued and running share one status partition, racing dispatchers
  take slots in one all-or-none update, the map is made once per table, and the item no longer repeats its id
  (the hand-over's write under 1 KB). Left: the job item passes 1 KB at the collection lease (1.45 KB finished:
  outputs, input, the list indexes' keys), so its last three writes cost 2 WRU each; heartbeats (920 B here)
  pass it with prompts longer than the bench's.
- **Result function at 512 MB** (was 1,024): the copy streams in constant memory, so the larger size only
  doubled the GB-seconds (the largest Lambda line).
- **Cost figure corrected, not lowered** (\`counted-v3\`, 2026-12-04). The model scaled the poll chain from
  the run's poll messages (3 a job in the burst: the submission, the admission and one status call) to 6.03
  status calls, as if each message were a status call: the chain was 2 heartbeats short, $0.0465 where it is
  ~$0.052. The poll chain is about half the cost (~$0.0034 per 1,000 jobs for each status call), so $0.035
  would take about 5 fewer status calls a job, i.e. a mean added delay of several seconds: not taken. A
  heartbeat's own CPU (~19 ms here, profiled) is the SDK's signing, serialising and HTTP with garbage
  collection; the pipeline's own code a few ms of it. Smaller functions (128 MB poller, 256 MB result) would
  save ~$0.004 at +150 ms per poller look and +100 ms per collection: not taken either.
`;

export function benchmarksMarkdown(results: BenchResults, charts: string[]): string {
  const parts: string[] = [];
  const { machine } = results;
  parts.push(`# Benchmarks

Generated by \`npm run bench\` (not part of \`npm test\`) from [\`bench/results.json\`](bench/results.json) alone: never
edit this file, run the bench. Last run **${results.date}**, Node ${results.node}, ${machine.cpus} × ${machine.model},
${machine.memoryGiB} GiB RAM, ${machine.platform}; 1-minute load average at start ${machine.loadAverage1mAtStart}
(the machine is shared: other work shows up in the timings, which is why every timed figure is a ratio to a
baseline measured in the same run, repeated). One case alone: \`npm run bench -- --only <case>\`
(${Object.keys(results.cases ?? {})
    .map((name) => `\`${name}\``)
    .join(', ')}); the others keep their last figures.

## Summary

Each goal's figure, with min–max over its repetitions (runs, rounds, seeds or quarters of the jobs, as the
section says) and the statistic the goal is judged on.

${markdownTable(
  ['case', 'figure', 'value', 'goal', 'met'],
  goalRows(results).map((row) => [row.benchmark, row.figure, row.value, row.goal, metText(row.met)]),
)}

${casesTable(results)}
`);
  if (results.poll) parts.push(pollSection(results.poll, charts));
  if (results.coldStart) parts.push(coldStartSection(results.coldStart, charts));
  if (results.copy)
    parts.push(
      copySection(
        results.copy,
        goalRows(results).filter((row) => row.benchmark === 'copy'),
      ),
    );
  if (results.throughput) parts.push(throughputSection(results.throughput));
  if (results.cost) parts.push(costSection(results.cost, charts));
  if (results.latency) parts.push(latencySection(results.latency));
  if (results.admission) parts.push(admissionSection(results.admission));
  parts.push(DECISIONS);
  return `${parts.join('\n')}`;
}

/** When each case ran and the machine's load around it. */
function casesTable(results: BenchResults): string {
  const cases = Object.entries(results.cases ?? {});
  if (cases.length === 0) return '';
  return `Cases measured (1-minute load average before → after each, on ${results.machine.cpus} cores):

${markdownTable(
  ['case', 'measured at', 'took (s)', 'load before → after'],
  cases.map(([name, c]) => [
    name,
    c.measuredAt,
    fmt(c.seconds, 1),
    `${fmt(c.loadAverage1m.before)} → ${fmt(c.loadAverage1m.after)}`,
  ]),
)}
`;
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
  const kb = (bytes: number) => fmt(bytes / 1000, 0);
  const rows = cold.functions.map((f) => [
    f.function,
    `${kb(f.initBytes)} (${kb(f.totalBytes)} in ${f.files} files)`,
    `${fmt(f.initMs, 1)} (wall ${fmt(f.initWallMs, 0)})`,
    `${f.clients.join(' + ')}: ${fmt(cold.references[f.reference]?.initMs ?? Number.NaN, 1)}`,
    spreadText(f.ratio, '×'),
    spreadText(f.ratioWithoutSourceMaps, '×'),
    `≤ ${f.goalRatio}×`,
    metText(f.goalMet),
    f.largestModules.map((m) => `${m.module} ${kb(m.bytes)}`).join(', '),
  ]);
  const refs = Object.entries(cold.references).map(([key, r]) => [
    key,
    kb(r.initBytes),
    fmt(r.initMs, 1),
    fmt(r.initMsWithoutSourceMaps, 1),
    r.largestPackages
      .slice(0, 4)
      .map((p) => `${p.module} ${kb(p.bytes)}`)
      .join(', '),
  ]);
  return `## 2. Cold start

Each function bundled as its asset is (\`lambdaEsbuildOptions()\` of scripts/lambda-assets.ts, from \`nodejsBundling()\`:
${cold.esbuild.format}, ${cold.esbuild.target}, minified, source maps without sources, AWS SDK bundled, **split at \`import()\`** into
chunks read only when first imported) and imported in a fresh \`${cold.nodeBinary}\` (${cold.nodeVersion}) process with
dummy configuration and the deployed \`NODE_OPTIONS=--enable-source-maps\`. Its baseline, built the same way in the
same run: a **reference bundle holding only the AWS SDK clients the function calls on its hot path**, made at init.
Init = the process's **CPU time** (all threads, reported as it exits) over bare \`node -e 0\`'s (${cold.bareNodeMsWithSourceMaps} ms):
on this shared machine a process's wall time moves with everyone else's load and its CPU time hardly does, and in
Lambda init has its CPU to itself (wall time over bare node shown as well). ${cold.rounds} rounds × ${cold.runsPerRound} interleaved
processes per bundle, each pass in a freshly shuffled order; each round gives one ratio, the median ratio is judged.
1-minute load average as the rounds began: ${cold.loadAverage1m ? `${fmt(cold.loadAverage1m.median, 2)} (${fmt(cold.loadAverage1m.min, 2)}–${fmt(cold.loadAverage1m.max, 2)})` : 'not recorded'} (the machine's, shared). Bundles and metafiles:
\`${cold.bundlesDir}/\`.

${markdownTable(['function', 'KB read at init (all)', 'init, CPU ms', 'reference: init, CPU ms', 'ratio', 'ratio, no source maps', 'goal', 'met', 'three largest modules read at init (KB)'], rows)}

References:

${markdownTable(['reference', 'KB read at init', 'init, CPU ms', 'no source maps', 'largest packages (KB)'], refs)}

${coldStartCauses(cold)}

${charts
  .filter((c) => c.startsWith('cold') || c.startsWith('bundle'))
  .map((c) => `![${c}](bench/${c})`)
  .join(' ')}
`;
}

/** Reads the causes off the figures, so the text stays true as the bundles change. */
function coldStartCauses(cold: ColdStartResult): string {
  const lines: string[] = ['**What the figures say:**', ''];
  const extra = cold.functions.map((f) => {
    const ref = cold.references[f.reference]!;
    return `${f.function} +${fmt((f.initBytes - ref.initBytes) / 1000, 0)} KB / +${fmt(f.initMs - ref.initMs, 1)} ms`;
  });
  lines.push(
    `- **Over its reference**, each function reads at init its own code, \`zod/mini\`, Powertools (logger, metrics, batch) and the adapters: ${extra.join('; ')}.`,
  );
  const maps = cold.functions.map((f) => f.initMs - f.initMsWithoutSourceMaps);
  lines.push(
    `- **Source maps** (\`--enable-source-maps\`, kept for mapped stack traces in the logs): ${fmt(maps.reduce((a, b) => a + b, 0) / Math.max(1, maps.length), 0)} ms of each function's init on average; the references pay it too, so the ratios with and without are shown.`,
  );
  lines.push(
    "- **Rare paths are not read at init**: the S3 client and presigner of a poller or submit (`s3://` inputs), the notifier's SNS and EventBridge clients outside the result stage, the RunComfy client and its response schemas outside the poller and the result stage, a sweeper's S3 clean-up, Secrets Manager (Powertools Parameters), Node's `fetch` (undici): each is an `import()` the bundle splits into a chunk. Nor are schemas a function does not parse with: the settings are parsed by hand, and the events are built without their schemas.",
  );
  return lines.join('\n');
}

function copySection(copy: CopyResult, goals: SummaryRow[]): string {
  const mib = (bytes: number) => fmt(bytes / 1048576, 0);
  const range = (median: number, min: number, max: number, digits: number, unit: string) =>
    `${fmt(median, digits)}${unit} (${fmt(min, digits)}–${fmt(max, digits)})`;
  return `## 3. Copy

The real \`copyOutputs\` copying ${copy.outputs} outputs (simulator, \`output_min_bytes\`; valid PNGs served with their
Content-Length) into moto S3, at ${copy.sizes.map((s) => `${mib(s.outputBytesEach)} MiB`).join(' and ')} each, ${copy.repetitions} fresh
processes per size. Outputs over one part (${mib(copy.partSizeBytes)} MiB) with a declared length stream to S3 in one PutObject
each, the SDK computing the SHA-256 trailer S3 verifies; smaller ones go up buffered in one PutObject carrying our hash
(the warm-up copy's outputs; S3 requests counted per output). Peak RSS growth = the kernel's high-water mark
(VmHWM, reset before the copy) − RSS before the copy, after a small warm-up copy. Baseline, in the same process, same
endpoint, right after each copy: **one PutObject of the same total bytes from a buffer in memory** (the issue's
wording, read literally: the same bytes, one request); parallel PutObjects of one output each shown for context.

Medians (min–max) over the runs of each size:

${markdownTable(
  [
    'outputs',
    'copy wall',
    'one PutObject',
    'parallel PutObjects',
    'copy / one PutObject',
    'peak RSS growth',
    'S3 requests per output',
  ],
  copy.sizes.map((s) => [
    `${s.outputs} × ${mib(s.outputBytesEach)} MiB`,
    `${fmt(s.copyWallMs, 0)} ms (${fmt(s.copyThroughputMiBPerSecond, 1)} MiB/s)`,
    `${fmt(s.singlePutWallMs, 0)} ms`,
    `${fmt(s.parallelPutsWallMs, 0)} ms`,
    range(s.wallRatioToSinglePut, s.wallRatioToSinglePutMin, s.wallRatioToSinglePutMax, 2, '×'),
    range(s.copyPeakRssGrowthMiB, s.copyMinPeakRssGrowthMiB, s.copyMaxPeakRssGrowthMiB, 1, ' MiB'),
    Object.entries(s.s3RequestsPerOutput)
      .map(([name, count]) => `${name} ${fmt(count, 2)}`)
      .join(', '),
  ]),
)}

Goals (the summary's rows, from the same runs):

${markdownTable(
  ['figure', 'value', 'goal', 'met'],
  goals.map((row) => [row.figure, row.value, row.goal, metText(row.met)]),
)}

Runs (copy wall / peak RSS growth, heap and ArrayBuffer peaks over their values before; its PutObject):

${copy.sizes
  .map(
    (s) =>
      `- ${mib(s.outputBytesEach)} MiB: ${s.runs
        .map(
          (r) =>
            `${r.copyWallMs} ms / ${r.copyPeakRssGrowthMiB} MiB (heap ${r.copyPeakHeapUsedGrowthMiB}, ArrayBuffers ${r.copyPeakArrayBuffersGrowthMiB}; put ${r.singlePutWallMs} ms)`,
        )
        .join('; ')}`,
  )
  .join('\n')}

What the figures say: the peak is not the bytes in flight (a few 64 KiB chunks per output) but garbage. Every
downloaded chunk is a new ArrayBuffer, twice over (the socket's read buffer and the copy \`fetch\` makes of it before it
enqueues it), and a chunk still in the pipeline when a scavenge runs is promoted to the old generation, where only a
mark-compact frees it; V8 runs one when the external memory since the last one passes its limit. So the growth is
set by how much dead chunk memory piles up between collections, not by the output size, and it varies with the
timing of the collections from run to run; a longer copy sees more collections and so more chances of a high one.
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
All AWS requests of the burst went through a counting proxy and were attributed to the function that sent them.

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

Under light load (${tp.lightLoadJobs} jobs ${tp.lightLoadMode === 'sequential' ? 'run one at a time' : 'one every 0.5 s'}, after the burst; the cost model takes the CPU time from these${
    tp.lightLoadMode !== 'sequential'
      ? ''
      : tp.lightLoadCpuScope === 'pipeline'
        ? `: this process's CPU time over each invocation, from a pipeline of its own on the same moto, straight to it (no counting proxy), with the simulator in a process of its own; the SQS driver (long poll ${tp.lightLoadDriver?.waitTimeSeconds ?? 20} s) and the local HTTP API still run in this process`
        : ": this process's CPU time over each invocation, the local stack serving it included"
  }):

${markdownTable(
  [
    'function',
    'MB',
    'invocations',
    'records',
    'mean (ms)',
    'p50 (ms)',
    'p95 (ms)',
    'CPU per record, median / mean (ms)',
  ],
  fn(tp.lambdaLightLoad).map((row) => {
    const cpu = tp.lambdaLightLoad[String(row[0])]?.cpuMsPerRecord;
    return [...row, cpu ? `${fmt(cpu.median, 2)} / ${fmt(cpu.mean, 2)}` : 'n/a'];
  }),
)}
`;
}

/** Says so when the verdict is closer to the line than the local duration figures can resolve. */
function costMarginNote(cost: CostResult): string {
  const margin = (cost.goalUsdPer1000Jobs - cost.pipelineUsdPer1000Jobs) / cost.goalUsdPer1000Jobs;
  if (Math.abs(margin) >= 0.1) return '';
  const sensitivity = isCountedMethod(cost.method)
    ? 'less than the uncertainty of the per-call latencies assumed for the Lambda durations'
    : `less than the spread of the local handler durations (with mean instead of median durations: $${fmt(cost.pipelineUsdPer1000JobsWithMeanDurations, 4)})`;
  return ` The margin is ${fmt(Math.abs(margin) * 100, 1)} % ${margin >= 0 ? 'under' : 'over'} the goal, ${sensitivity}: read it as *at* the goal, and with typical 1.5 MB outputs stored for the 30-day default retention, over it ($${fmt(cost.pipelineUsdPer1000JobsWithTypicalOutputs, 4)}).`;
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
  const counted = isCountedMethod(cost.method);
  const durations = cost.lambdaDurations
    ? markdownTable(
        [
          'function',
          'MB',
          'CPU here (ms/record)',
          'CPU on Lambda (ms/record)',
          'calls per record',
          'waiting (ms/record)',
          'billed (ms/record)',
          'timed median here (ms/record)',
        ],
        Object.entries(cost.lambdaDurations).map(([name, d]) => [
          name,
          d.memoryMb,
          fmt(d.localCpuMsPerRecord, 2),
          fmt(d.lambdaCpuMsPerRecord, 1),
          Object.entries(d.callsPerRecord)
            .map(([key, n]) => `${fmt(n, 2)} ${key}`)
            .join(', '),
          fmt(d.waitMsPerRecord, 1),
          fmt(d.billedMsPerRecord, 1),
          fmt(d.timedMedianMsPerRecord, 1),
        ]),
      )
    : '';
  const stability = cost.stability;
  const stabilityText = stability
    ? stability.changePercent !== undefined && stability.previous
      ? `**${fmt(stability.changePercent, 2)} %** from the previous full run's $${fmt(stability.previous.usdPer1000Jobs, 4)} (cost run ${stability.previous.measuredAt}, throughput measured ${stability.previous.throughputMeasuredAt}; goal ≤ 5 %: ${stability.changePercent <= 5 ? 'met' : 'not met'})`
      : `nothing to compare with: ${stability.note ?? 'no previous run'} (goal ≤ 5 %: not judged met)`
    : 'not recorded';
  return `## 5. Cost

Per 1,000 jobs, from the throughput run's counted work${counted ? ' (requests, DynamoDB units, bytes, and Lambda durations counted as CPU time + per-call latencies: see below)' : ' and light-load handler durations'}, at **${cost.statusCallsPerJob} status calls per job**
(the poll benchmark's log-normal figure; the fast simulator's run made ${cost.statusCallsPerJobMeasured}).

Change from the previous run: ${stabilityText}.

| design | USD per 1,000 jobs |
| --- | --- |
| **this pipeline** | **${fmt(cost.pipelineUsdPer1000Jobs, 4)}** (${fmt(cost.ratioToStepFunctions, 3)} of Step Functions, ${fmt(cost.ratioToSleepingLambda, 3)} of the sleeping Lambda) |
| this pipeline, as measured (${cost.statusCallsPerJobMeasured} status call(s) per job) | ${fmt(cost.designs.pipelineAsMeasured.usdPer1000Jobs, 4)} |
| this pipeline with typical 1.5 MB PNG outputs stored a month | ${fmt(cost.pipelineUsdPer1000JobsWithTypicalOutputs, 4)} |
${
  cost.pipelineUsdPer1000JobsWithMedianDurations !== undefined && counted
    ? `| this pipeline, timed median light-load durations against moto instead of counted ones (moves with the machine's load) | ${fmt(cost.pipelineUsdPer1000JobsWithMedianDurations, 4)} |
${cost.pipelineUsdPer1000JobsWithUnscaledCpu !== undefined ? `| this pipeline, counted, with the CPU time as measured here (not scaled to Lambda's CPU share) | ${fmt(cost.pipelineUsdPer1000JobsWithUnscaledCpu, 4)} |\n` : ''}`
    : ''
}| this pipeline, ${counted ? 'timed mean light-load durations' : 'mean instead of median handler durations'} | ${fmt(cost.pipelineUsdPer1000JobsWithMeanDurations, 4)} |${
    cost.pipelineSplit
      ? `
| of the headline: requests, DynamoDB units, bytes / Lambda GB-s (${counted ? 'counted' : 'timed'}) | ${fmt(cost.pipelineSplit.countedUsdPer1000Jobs, 4)} / ${fmt(cost.pipelineSplit.timedUsdPer1000Jobs, 4)} |`
      : ''
  }${
    cost.pollChain
      ? `
| of the headline: the poll chain (poll messages, their poller invocations and job writes) | ${fmt(cost.pollChain.usdPer1000Jobs, 4)} (${fmt(cost.pollChain.usdPer1000JobsPerStatusCall, 5)} per status call) |`
      : ''
  }
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
${
  durations
    ? `
<details><summary>Lambda durations, counted</summary>

Per record: CPU time here × 1769 / MB (Lambda's CPU share) + each call at its per-call latency (see the assumptions), each invocation rounded up to 1 ms.
The poll chain's further heartbeats are priced at the poller's CPU + one heartbeat's calls + one RunComfy status call.

${durations}

</details>
`
    : ''
}${cost.dynamo ? dynamoSection(cost.dynamo) : ''}
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

/** DynamoDB's write units per job, by the transition (or admission-record operation) that spends them. */
function dynamoSection(dynamo: NonNullable<CostResult['dynamo']>): string {
  const table = markdownTable(
    ['write', 'writes per job', 'of them refused', 'WRU per job', 'of them indexes', 'item bytes (max)'],
    [
      ...dynamo.writes.map((w) => [
        w.name,
        fmt(w.writes, 2),
        fmt(w.refused ?? 0, 2),
        fmt(w.wru, 2),
        fmt(w.indexWru, 2),
        String(w.maxItemBytes),
      ]),
      ['**total**', '', '', `**${fmt(dynamo.wruPerJob, 2)}**`, '', ''],
    ],
  );
  return `
<details><summary>DynamoDB write units per job, by transition (${dynamo.jobs} jobs, ${dynamo.statusCallsPerJob} status calls each; finished item ${dynamo.meanJobItemBytes} B)</summary>

${table}

</details>
`;
}

function latencySection(l: LatencyResult): string {
  const row = (name: string, p: { p50: number; p95: number; mean: number }) => [
    name,
    fmt(p.p50, 3),
    fmt(p.p95, 3),
    fmt(p.mean, 3),
  ];
  return `## 6. End-to-end added latency

${l.jobs} jobs on the local pipeline (real handlers, moto, simulator), one every ${l.spacingMs} ms, each with its own run time
(${String(l.simulatorKnobs.run_s)}; seed ${l.seed}), ${fmt(l.outputBytes / 2 ** 20, 0)} MiB outputs. Timestamps: the simulator's \`finished_at\` of the
run; the look: the heartbeat that saw the run finished reaching the poller (the local SQS driver invoking it); the
SentTimestamp of the result message that heartbeat sent (hand-over); the result handler invoked with it; the job's
\`finishedAt\`; the SentTimestamp of the SNS notification in a queue subscribed to the topic. The poll wait ends at the
look, where the poll simulation's prediction ends (its status call); everything after it is ours. ${l.measuredJobs}/${l.jobs} jobs
measured (${l.notSucceeded} not succeeded or not notified) in ${fmt(l.wallSeconds, 0)} s.

${markdownTable(
  ['part', 'p50 (s)', 'p95 (s)', 'mean (s)'],
  [
    row('**added latency** (run finished → notification landed)', l.added),
    row('poll wait (run finished → look)', l.pollWait),
    row('poll wait the simulation predicts for the same runs', l.predictedPollWait),
    row('status call, hand-over write, result message (look → hand-over)', l.handover),
    row('result queue delivery (hand-over → result handler invoked)', l.resultQueue),
    row('collect: result fetch, copy, writes (result handler invoked → terminal)', l.collect),
    row('notify (terminal → notification landed)', l.notify),
    row('**our own processing** (look → notification landed)', l.processing),
    row('poll wait counted to the hand-over (look included)', l.pollWaitToHandover),
  ],
)}

Measured poll wait / predicted: **${fmt(l.pollWaitRatioToPrediction, 3)}** (quarters of the jobs: ${spreadText(l.pollWaitRatioByQuarter, '×')}). Our processing p95
per quarter: ${spreadText(l.processingP95ByQuarter, 's')}. The simulation counts status calls from the upstream submission with no SQS or
Lambda latency; the measured wait adds the heartbeats' lateness (whole-second SQS delays aimed at the planned times, the
poller's own work, the local SQS driver's delivery). Counted to the hand-over instead, the ratio is
${fmt(l.pollWaitToHandoverRatioToPrediction, 3)}.
`;
}

function admissionSection(a: AdmissionResult): string {
  return `## 7. Admission burst

${a.jobs.toLocaleString('en-US')} edits submitted at once against the simulator with an account limit of ${a.upstreamLimit} in flight (\`max_in_flight\`:
a submit beyond it answers 429), the pipeline's \`upstreamConcurrency\` ${a.pipelineConcurrency}; run times ${a.runTimes}. The job core's
real submit, admission, poll and result code and the real RunComfy client over HTTP, with the in-memory adapters
(DynamoDB's conditional semantics) and **virtual time**: one clock drives the simulator and the pipeline, SQS is a timeline
of messages each handled ${a.hopMs} ms after it became visible (delivery and handler time), so hours of upstream work take
${fmt(a.wallSeconds, 0)} s. Not modelled: Lambda, DynamoDB and SQS latency beyond that, crashes (the soak covers those).

${markdownTable(
  ['figure', 'value'],
  [
    ['succeeded', `${a.succeeded.toLocaleString('en-US')} / ${a.jobs.toLocaleString('en-US')}`],
    ['not succeeded', Object.keys(a.failed).length === 0 ? 'none' : JSON.stringify(a.failed)],
    ['failed by rate limiting', String(a.failedByRateLimiting)],
    ['upstream 429s (per job)', `${a.upstream429} (${fmt(a.upstream429PerJob, 4)})`],
    ['upstream submits accepted', a.submitsAccepted.toLocaleString('en-US')],
    ['most in flight at RunComfy at once', String(a.maxInFlightUpstream)],
    [
      '**utilisation while work waited** (busy slots / limit)',
      `${fmt(a.utilisationWhileWaiting * 100, 1)} % (quarters: ${fmt(a.utilisationByQuarter.min * 100, 1)}–${fmt(a.utilisationByQuarter.max * 100, 1)} %)`,
    ],
    [
      'line empty after / all done after (virtual)',
      `${fmt(a.virtualSecondsUntilLineEmpty, 0)} s / ${fmt(a.virtualSecondsUntilAllDone, 0)} s`,
    ],
    [
      'messages handled / handler errors',
      `${a.messagesHandled.toLocaleString('en-US')} / ${a.handlerErrors}`,
    ],
  ],
)}

A slot is held from admission until the poller sees the run finished, so utilisation is bounded by run time / (run time +
poll wait + the hops of admission and submission): the poll schedule's ~1 s mean wait on ~12 s runs is most of what is missing.
`;
}

const COST_START = '<!-- bench:cost:start -->';
const COST_END = '<!-- bench:cost:end -->';

/**
 * The README with its cost block (between the `bench:cost` markers) set to the cost figure of
 * results.json: the number BENCHMARKS.md and the summary show, from the same run. Unchanged
 * when it has no block or there is no cost figure.
 */
export function withCostFigure(readme: string, results: Partial<BenchResults>): string {
  const cost = results.cost;
  const from = readme.indexOf(COST_START);
  const to = readme.indexOf(COST_END);
  if (!cost || from < 0 || to < from) return readme;
  const when = (cost.measuredAt ?? results.cases?.cost?.measuredAt ?? results.date ?? '').slice(0, 10);
  const figure = `**$${fmt(cost.pipelineUsdPer1000Jobs, 4)} per 1,000 jobs** (\`npm run bench\`, ${when}; goal ≤ $${cost.goalUsdPer1000Jobs}: ${cost.pipelineUsdPer1000Jobs <= cost.goalUsdPer1000Jobs ? 'met' : 'not met'})`;
  return `${readme.slice(0, from + COST_START.length)}${figure}${readme.slice(to)}`;
}
