import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { FUNCTIONS, type FunctionName, QUEUES, type QueueName, TABLE } from '../contract/index.ts';
import {
  callerContext,
  instrumentSdkCallers,
  type RequestTally,
  RUNTIME_CALLER,
  startAwsRequestCounter,
} from '../local/aws-request-counter.ts';
import type { LambdaHandler } from '../local/lambda-context.ts';
import { startMotoServer } from '../local/moto-server.ts';
import { type LocalPipeline, startLocalPipeline } from '../local/pipeline.ts';
import { nodeBinary } from './lib/node-binary.ts';
import { mean, percentile, round } from './lib/stats.ts';

/*
 * Throughput benchmark: N jobs submitted back to back to the local pipeline (the real handlers
 * on moto, the RunComfy simulator with fast knobs), a bounded number of requests in flight. Every AWS request goes through a counting proxy
 * and is attributed to the function that made it, or to the runtime (the SQS driver standing in
 * for Lambda's event source mappings); each function's outbound HTTP calls (RunComfy) are counted
 * at `fetch`. Each handler invocation is timed, and after the burst jobs run one at a time to take
 * each invocation's unloaded duration and CPU time (the cost model counts durations from these).
 * That light-load phase runs a second pipeline on the same moto, straight to it (no counting
 * proxy: the request counts come from the burst) and against a simulator in a process of its own,
 * so that the CPU time taken around an invocation is the pipeline's, not the stack serving it.
 */

const REPO_ROOT = resolve(import.meta.dirname, '..');
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'expired']);

export const THROUGHPUT_SIMULATOR_KNOBS = { queue_delay_s: 0, run_delay_s: 0.2, workers: 50 } as const;

/**
 * The light-load pipeline's SQS driver: long polls of 20 s (Lambda's, and the runtime's default)
 * rather than the burst's 1 s, so that idle receives coming back in this process rarely land
 * inside an invocation being measured (a long poll returns as soon as a message arrives).
 */
const LIGHT_LOAD_DRIVER = { retryDelaySeconds: 1, waitTimeSeconds: 20 } as const;

export interface ThroughputOptions {
  /** @default 200 */
  jobs?: number;
  /**
   * Submissions in flight at once. The client issues all jobs at once, but the local HTTP API
   * invokes a handler per request with no concurrency limit, and beyond ~20 simultaneous submits
   * the one moto process behind them answers so slowly that submits hit their 29 s timeout.
   * @default 16
   */
  submitConcurrency?: number;
  /** Give up waiting for the jobs after this long. @default 240_000 */
  timeoutMs?: number;
  /**
   * Jobs run one at a time after the burst (the next is submitted when the last one's result
   * handler has returned), to time the handlers unloaded and take each invocation's CPU time with
   * no other invocation beside it. @default 20
   */
  lightLoadJobs?: number;
  /** Give up waiting for one light-load job after this long and submit the next. @default 30_000 */
  lightLoadJobTimeoutMs?: number;
}

export interface FunctionFigures {
  memoryMb: number;
  invocations: number;
  /** SQS records (or HTTP requests) handled: a batch counts its records. */
  records: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  /** Lambda bills each invocation rounded up to the next ms. */
  billedMs: number;
  /**
   * CPU time (user + system) of this process while each invocation ran, per record: the median
   * and the mean over invocations. Only meaningful when invocations ran one at a time (light
   * load); see `ThroughputResult.lightLoadCpuScope` for what else it holds.
   */
  cpuMsPerRecord?: { median: number; mean: number };
}

/** Outbound HTTP calls (fetch) a function made: RunComfy's API, or an output file download. */
export interface HttpCallTally {
  caller: string;
  kind: 'runcomfy-api' | 'output-file' | 'other';
  count: number;
}

export interface ThroughputResult {
  jobs: number;
  succeeded: number;
  notSucceeded: Record<string, number>;
  allSucceeded: boolean;
  simulatorKnobs: Record<string, number>;
  driver: { retryDelaySeconds: number; waitTimeSeconds: number };
  /** At most this many `POST /edits` in flight (see ThroughputOptions.submitConcurrency). */
  submitConcurrency: number;
  /** First request sent -> every job ended. */
  wallSeconds: number;
  /** CPU seconds per wall second during the burst: moto's process, and this one (handlers, simulator, API). */
  motoCpuShare: number;
  nodeCpuShare: number;
  jobsPerSecond: number;
  /** createdAt -> finishedAt of each job. */
  p50JobSeconds: number;
  p95JobSeconds: number;
  /** Requests made by the functions, per job, by service. */
  functionRequestsPerJobByService: Record<string, number>;
  /**
   * SQS requests of the event source mappings (here the runtime's driver), per job: receives
   * that returned messages, deletes and visibility changes. Empty receives are idle polling, a
   * fixed cost per queue rather than per job, and are listed apart.
   */
  eventSourceMappingSqsRequestsPerJob: number;
  emptyReceivesTotal: number;
  awsRequestsPerJobByService: Record<string, number>;
  /** Every tally, for the cost model: caller, service, operation, queue, count (whole run). */
  requests: RequestTally[];
  /** Outbound HTTP calls by function during the burst (counted at `fetch`), for the cost model. */
  httpCalls?: HttpCallTally[];
  upstreamCallsPerJob: Record<string, number>;
  /** Handler durations during the burst (many invocations share 2 cores with moto and the simulator). */
  lambda: Record<string, FunctionFigures>;
  /**
   * Handler durations and CPU times of jobs run one at a time after the burst: the closest this
   * machine comes to Lambda, where every invocation has a CPU of its own. The cost model prices
   * CPU time from these (the durations are shown beside it).
   */
  lambdaLightLoad: Record<string, FunctionFigures>;
  lightLoadJobs: number;
  /** How the light-load jobs were run: `sequential` (one at a time) or, before, `spaced` (one every 0.5 s). */
  lightLoadMode?: 'sequential' | 'spaced';
  /**
   * What the light-load CPU times hold besides the handler. `pipeline`: the simulator ran in a
   * process of its own and the functions spoke to moto directly, so only the local runtime's own
   * work remains in this process (the SQS driver's long polls and deletes, the HTTP API in front
   * of submit, the benchmark's timing wrapper), whatever of it overlapped an invocation. Absent
   * (before): the simulator and the request-counting proxy ran in this process too.
   */
  lightLoadCpuScope?: 'pipeline';
  /** The light-load pipeline's SQS driver (its long poll is longer than the burst's: less idle polling in this process). */
  lightLoadDriver?: { retryDelaySeconds: number; waitTimeSeconds: number };
  /** Mean size of a job item as stored (≈ JSON bytes), for DynamoDB's request units. */
  meanJobItemBytes: number;
  outputsPerJob: number;
  meanOutputBytes: number;
  logFile: string;
}

export async function runThroughputBenchmark(options: ThroughputOptions = {}): Promise<ThroughputResult> {
  const jobCount = options.jobs ?? 200;
  const timeoutMs = options.timeoutMs ?? 240_000;
  const submitConcurrency = options.submitConcurrency ?? 16;
  instrumentSdkCallers();
  const timings = new Map<FunctionName, Timing[]>();
  const lightTimings = new Map<FunctionName, Timing[]>();
  const phase = { timings };
  const handlers = timedHandlers(() => phase.timings);
  const http = countHttpCalls();
  const driver = { retryDelaySeconds: 1, waitTimeSeconds: 1 };

  const moto = await startMotoServer();
  const counter = await startAwsRequestCounter(moto.endpoint);
  const logDir = join(REPO_ROOT, 'bench', '.work');
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, 'throughput-functions.log');
  const restoreStdout = divertStdout(logFile);
  let pipeline: LocalPipeline | undefined;
  let simulator: SimulatorProcess | undefined;
  try {
    pipeline = await startLocalPipeline({
      awsEndpoint: counter.endpoint,
      simulator: { knobs: { ...THROUGHPUT_SIMULATOR_KNOBS } },
      handlers: handlers.overrides,
      ...driver,
      log: quietLog,
    });
    // Cold starts happen before the clock starts: this measures throughput, not module init.
    await handlers.load();
    const direct = directDynamo(moto.endpoint);
    counter.reset();
    http.reset();
    pipeline.simulator?.admin.resetStats();

    const started = performance.now();
    const motoCpuBefore = processCpuSeconds(moto.pid);
    const nodeCpuBefore = process.cpuUsage();
    const submissions = await inWindows(jobCount, submitConcurrency, (index) => submit(pipeline!, index));
    const rejected = submissions.filter((status) => status !== 202).length;
    if (rejected > 0) throw new Error(`${rejected} of ${jobCount} submissions were not accepted`);
    const jobs = await waitForJobs(direct, pipeline.table, jobCount, timeoutMs);
    const wallSeconds = (performance.now() - started) / 1000;
    const nodeCpu = process.cpuUsage(nodeCpuBefore);
    const cpu = {
      moto: (processCpuSeconds(moto.pid) - motoCpuBefore) / wallSeconds,
      node: (nodeCpu.user + nodeCpu.system) / 1e6 / wallSeconds,
    };
    // Let the last handlers finish and the driver delete their messages before counting.
    await pipeline.drain({ timeoutMs: 60_000 });
    const tallies = counter.tallies();
    const httpCalls = http.tallies();
    const upstream = pipeline.simulator?.admin.stats();

    await pipeline.stop();
    pipeline = undefined;
    direct.destroy();

    // One job at a time: nothing else of the pipeline runs beside an invocation, so its duration
    // is unloaded and the process's CPU time over it is its own. A second pipeline on the same
    // moto (its own resources), straight to it, against a simulator in another process: the
    // RunComfy calls and AWS requests an invocation awaits are served outside this process.
    simulator = await startSimulatorProcess({ ...THROUGHPUT_SIMULATOR_KNOBS });
    phase.timings = lightTimings;
    pipeline = await startLocalPipeline({
      awsEndpoint: moto.endpoint,
      stackName: 'flux-edit-light',
      runComfy: { baseUrl: simulator.baseUrl, token: simulator.token },
      // The simulator serves its outputs over plain http on loopback: allowed locally when the
      // allowlist names the host (as the runtime does for its own simulator).
      env: { outputHostAllowlist: `${new URL(simulator.baseUrl).hostname},*.runcomfy.net` },
      handlers: handlers.overrides,
      ...LIGHT_LOAD_DRIVER,
      log: quietLog,
    });
    // Fresh modules: the burst's read the counting proxy's endpoint and the burst's resources at init.
    await handlers.load('light-load');
    const lightDirect = directDynamo(moto.endpoint);
    const lightLoadJobs = options.lightLoadJobs ?? 20;
    for (let index = 0; index < lightLoadJobs; index++) {
      const ended = handlers.nextReturn('result', options.lightLoadJobTimeoutMs ?? 30_000);
      await submit(pipeline, jobCount + index);
      await ended;
      // Let the driver delete the result message before the next job starts.
      await new Promise((wake) => setTimeout(wake, 200));
    }
    await waitForJobs(lightDirect, pipeline.table, lightLoadJobs, timeoutMs);
    await pipeline.drain({ timeoutMs: 60_000 });
    lightDirect.destroy();
    return summarize({
      lightTimings,
      lightLoadJobs,
      jobCount,
      jobs,
      wallSeconds,
      tallies,
      httpCalls,
      upstream: upstream?.by_endpoint ?? {},
      timings,
      driver,
      submitConcurrency,
      cpu,
      logFile,
    });
  } finally {
    await pipeline?.stop();
    await simulator?.stop();
    restoreStdout();
    await counter.close();
    await moto.stop();
  }
}

interface StoredJob {
  status: string;
  createdAt: string;
  finishedAt?: string;
  outputs?: { sizeBytes: number }[];
  itemBytes: number;
}

function summarize(input: {
  jobCount: number;
  jobs: StoredJob[];
  wallSeconds: number;
  tallies: RequestTally[];
  httpCalls: HttpCallTally[];
  upstream: Record<string, number>;
  timings: Map<FunctionName, Timing[]>;
  lightTimings: Map<FunctionName, Timing[]>;
  lightLoadJobs: number;
  driver: { retryDelaySeconds: number; waitTimeSeconds: number };
  submitConcurrency: number;
  cpu: { moto: number; node: number };
  logFile: string;
}): ThroughputResult {
  const { jobCount, jobs, tallies } = input;
  const perJob = (value: number) => round(value / jobCount, 3);
  const notSucceeded: Record<string, number> = {};
  for (const job of jobs)
    if (job.status !== 'succeeded') notSucceeded[job.status] = (notSucceeded[job.status] ?? 0) + 1;
  const succeeded = jobs.filter((job) => job.status === 'succeeded').length;

  const byService: Record<string, number> = {};
  const functionByService: Record<string, number> = {};
  let esm = 0;
  let emptyReceives = 0;
  const drivenQueues = new Set((Object.keys(QUEUES) as QueueName[]).map(String));
  for (const tally of tallies) {
    if (tally.caller === RUNTIME_CALLER) {
      // The driver's SQS calls are what Lambda's pollers would make; anything else the runtime
      // sends (GetQueueAttributes while draining, observer queues) is the benchmark's own.
      if (tally.service !== 'sqs' || !isEventSourceMappingCall(tally, drivenQueues)) continue;
      const nonEmpty = tally.count - (tally.empty ?? 0);
      emptyReceives += tally.empty ?? 0;
      esm += nonEmpty;
      byService.sqs = (byService.sqs ?? 0) + nonEmpty;
      continue;
    }
    functionByService[tally.service] = (functionByService[tally.service] ?? 0) + tally.count;
    byService[tally.service] = (byService[tally.service] ?? 0) + tally.count;
  }

  const latencies = jobs
    .filter((job) => job.finishedAt)
    .map((job) => (Date.parse(job.finishedAt!) - Date.parse(job.createdAt)) / 1000);
  const outputs = jobs.flatMap((job) => job.outputs ?? []);
  return {
    jobs: jobCount,
    succeeded,
    notSucceeded,
    allSucceeded: succeeded === jobCount,
    simulatorKnobs: { ...THROUGHPUT_SIMULATOR_KNOBS },
    driver: input.driver,
    submitConcurrency: input.submitConcurrency,
    wallSeconds: round(input.wallSeconds, 2),
    motoCpuShare: round(input.cpu.moto, 2),
    nodeCpuShare: round(input.cpu.node, 2),
    jobsPerSecond: round(jobCount / input.wallSeconds, 2),
    p50JobSeconds: round(percentile(latencies, 50), 2),
    p95JobSeconds: round(percentile(latencies, 95), 2),
    functionRequestsPerJobByService: mapValues(functionByService, perJob),
    eventSourceMappingSqsRequestsPerJob: perJob(esm),
    emptyReceivesTotal: emptyReceives,
    awsRequestsPerJobByService: mapValues(byService, perJob),
    requests: tallies.sort((a, b) => b.count - a.count),
    httpCalls: input.httpCalls.sort((a, b) => b.count - a.count),
    upstreamCallsPerJob: mapValues(
      Object.fromEntries(Object.entries(input.upstream).filter(([, count]) => count > 0)),
      perJob,
    ),
    lambda: functionFigures(input.timings),
    lambdaLightLoad: functionFigures(input.lightTimings, { cpu: true }),
    lightLoadJobs: input.lightLoadJobs,
    lightLoadMode: 'sequential',
    lightLoadCpuScope: 'pipeline',
    lightLoadDriver: { ...LIGHT_LOAD_DRIVER },
    meanJobItemBytes: Math.round(mean(jobs.map((job) => job.itemBytes))),
    outputsPerJob: round(outputs.length / jobCount, 2),
    meanOutputBytes: Math.round(mean(outputs.map((output) => output.sizeBytes))),
    logFile: input.logFile.slice(REPO_ROOT.length + 1),
  };
}

function functionFigures(
  timings: Map<FunctionName, Timing[]>,
  options: { cpu?: boolean } = {},
): Record<string, FunctionFigures> {
  const figures: Record<string, FunctionFigures> = {};
  for (const [name, runs] of timings) {
    const ms = runs.map((run) => run.ms);
    const cpuPerRecord = runs.map((run) => run.cpuMs / Math.max(1, run.records));
    figures[name] = {
      memoryMb: FUNCTIONS[name].memoryMb,
      invocations: runs.length,
      records: runs.reduce((sum, run) => sum + run.records, 0),
      meanMs: round(mean(ms), 1),
      p50Ms: round(percentile(ms, 50), 1),
      p95Ms: round(percentile(ms, 95), 1),
      billedMs: ms.reduce((sum, value) => sum + Math.ceil(value), 0),
      ...(options.cpu
        ? {
            cpuMsPerRecord: {
              median: round(percentile(cpuPerRecord, 50), 2),
              mean: round(mean(cpuPerRecord), 2),
            },
          }
        : {}),
    };
  }
  return figures;
}

/** One handler invocation: wall time, records handled, and this process's CPU time meanwhile. */
interface Timing {
  ms: number;
  records: number;
  cpuMs: number;
}

const httpCounts = new Map<string, HttpCallTally>();
let httpCounting = false;

/**
 * Counts the outbound HTTP calls each function makes (the RunComfy client and the output
 * download read `globalThis.fetch` at each call), by the caller of `callerContext`; calls outside
 * a function (the benchmark's own submissions) are not counted.
 */
function countHttpCalls() {
  if (!httpCounting) {
    httpCounting = true;
    const original = globalThis.fetch;
    globalThis.fetch = ((input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
      const caller = callerContext.getStore();
      if (caller) {
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        const path = new URL(url).pathname;
        const kind: HttpCallTally['kind'] = path.includes('/outputs/')
          ? 'output-file'
          : path.startsWith('/v1/')
            ? 'runcomfy-api'
            : 'other';
        const key = `${caller}|${kind}`;
        const tally = httpCounts.get(key) ?? { caller, kind, count: 0 };
        tally.count += 1;
        httpCounts.set(key, tally);
      }
      return original(input, init);
    }) as typeof fetch;
  }
  return {
    reset: () => httpCounts.clear(),
    tallies: () => [...httpCounts.values()].map((tally) => ({ ...tally })),
  };
}

function isEventSourceMappingCall(tally: RequestTally, drivenQueues: Set<string>): boolean {
  const queueName = tally.resource ?? '';
  const driven = [...drivenQueues].some((name) => queueName.endsWith(`-${name}`));
  return (
    driven &&
    ['ReceiveMessage', 'DeleteMessageBatch', 'DeleteMessage', 'ChangeMessageVisibilityBatch'].includes(
      tally.operation,
    )
  );
}

/**
 * Stand-ins for every function that import the real handler after the pipeline has set the
 * environment (as loadHandlers would) and time each invocation, attributing its AWS requests.
 */
function timedHandlers(timings: () => Map<FunctionName, Timing[]>) {
  const loaded = new Map<FunctionName, LambdaHandler>();
  const waiters = new Map<FunctionName, (() => void)[]>();
  /** Resolves when the next invocation of `name` has returned (or after `timeoutMs`). */
  const nextReturn = (name: FunctionName, timeoutMs: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      const list = waiters.get(name) ?? [];
      list.push(() => {
        clearTimeout(timer);
        resolve();
      });
      waiters.set(name, list);
    });
  const names = Object.keys(FUNCTIONS) as FunctionName[];
  /** Imports every handler; a `coldStart` tag imports new instances of the entries (see loadHandlers). */
  const load = async (coldStart?: string) => {
    for (const name of names) {
      const entry = join(REPO_ROOT, FUNCTIONS[name].entry);
      if (!existsSync(entry)) continue;
      const url = `${pathToFileURL(entry).href}${coldStart ? `?cold-start=${coldStart}` : ''}`;
      const module = (await import(url)) as { handler: LambdaHandler };
      loaded.set(name, module.handler);
    }
  };
  const overrides = Object.fromEntries(
    names.map((name) => [
      name,
      (async (event: unknown, context: Context) => {
        const handler = loaded.get(name);
        if (!handler) throw new Error(`handler ${name} not loaded`);
        const records = (event as { Records?: unknown[] } | null)?.Records?.length ?? 1;
        const cpuBefore = process.cpuUsage();
        const start = performance.now();
        try {
          return await callerContext.run(name, () => handler(event as never, context));
        } finally {
          const ms = performance.now() - start;
          const cpu = process.cpuUsage(cpuBefore);
          const current = timings();
          const list = current.get(name) ?? [];
          list.push({ ms, records, cpuMs: (cpu.user + cpu.system) / 1000 });
          current.set(name, list);
          for (const wake of waiters.get(name)?.splice(0) ?? []) wake();
        }
      }) as LambdaHandler,
    ]),
  ) as Record<FunctionName, LambdaHandler>;
  return { overrides, load, nextReturn };
}

interface SimulatorProcess {
  baseUrl: string;
  token: string;
  stop(): Promise<void>;
}

/**
 * The RunComfy simulator in a Node process of its own (`npm run simulator`), so that the work of
 * serving the pipeline's calls is not counted in this process's CPU time. Resolves once it
 * listens, with the base URL and token it prints.
 */
async function startSimulatorProcess(knobs: Record<string, number>): Promise<SimulatorProcess> {
  const child: ChildProcess = spawn(
    nodeBinary(),
    [
      '--import',
      'tsx',
      join(REPO_ROOT, 'simulator', 'main.ts'),
      '--port',
      '0',
      // As the runtime's own simulator: `s3://` inputs reach it as presigned http URLs to moto.
      '--knobs',
      JSON.stringify({ ...knobs, allow_http_inputs: true }),
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = once(child, 'exit');
  let output = '';
  let errors = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    errors = (errors + chunk.toString()).slice(-4_000);
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await exited;
  };
  try {
    const started = await new Promise<{ baseUrl: string; token: string }>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the simulator did not start in 30 s: ${errors}`)),
        30_000,
      );
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the simulator exited (${code}) before listening: ${errors}`));
      });
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const baseUrl = /RUNCOMFY_BASE_URL=(\S+)/.exec(output)?.[1];
        const token = /RUNCOMFY_API_TOKEN=(\S+)\n/.exec(output)?.[1];
        if (baseUrl && token) {
          clearTimeout(timer);
          resolve({ baseUrl, token });
        }
      });
    });
    return { ...started, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Runs `task(0..count-1)` with at most `limit` running at once, results in order. */
async function inWindows<T>(count: number, limit: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      results[index] = await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return results;
}

async function submit(pipeline: LocalPipeline, index: number): Promise<number> {
  const response = await fetch(`${pipeline.apiUrl}/edits`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      prompt: `benchmark edit ${index}: make the cup red`,
      image_urls: ['https://inputs.example.com/cup.png'],
    }),
  });
  await response.arrayBuffer();
  return response.status;
}

/** A DynamoDB client straight to moto, so the benchmark's own reads are not counted. */
function directDynamo(endpoint: string): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    }),
  );
}

/**
 * Waits until `expected` jobs have ended, looking once a second at their statuses only (moto is
 * the local bottleneck: the benchmark's own reads must stay light), then reads them whole.
 */
async function waitForJobs(
  dynamo: DynamoDBDocumentClient,
  table: string,
  expected: number,
  timeoutMs: number,
): Promise<StoredJob[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const statuses = await scanJobs(dynamo, table, true);
    const done = statuses.filter((item) => TERMINAL.has(String(item.status))).length;
    if (statuses.length >= expected && done >= expected) break;
    if (Date.now() > deadline) {
      throw new Error(`after ${timeoutMs} ms only ${done} of ${expected} jobs had ended`);
    }
    await new Promise((wake) => setTimeout(wake, 1_000));
  }
  return (await scanJobs(dynamo, table, false)).map((item) => ({
    status: String(item.status),
    createdAt: String(item.createdAt),
    finishedAt: item.finishedAt === undefined ? undefined : String(item.finishedAt),
    outputs: item.outputs as { sizeBytes: number }[] | undefined,
    itemBytes: Buffer.byteLength(JSON.stringify(item)),
  }));
}

async function scanJobs(
  dynamo: DynamoDBDocumentClient,
  table: string,
  statusOnly: boolean,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(
      new ScanCommand({
        TableName: table,
        ExclusiveStartKey: startKey,
        ...(statusOnly
          ? {
              ProjectionExpression: '#pk, #status',
              ExpressionAttributeNames: { '#pk': TABLE.partitionKey, '#status': 'status' },
            }
          : {}),
      }),
    );
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items.filter((item) => String(item[TABLE.partitionKey]).startsWith('job#'));
}

/** utime + stime of a process, in seconds (Linux /proc; USER_HZ is 100 on every common kernel). */
function processCpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** The functions log (Powertools, EMF metrics) to stdout as in Lambda; here that goes to a file. */
export function divertStdout(file: string): () => void {
  const stream = createWriteStream(file, { flags: 'w' });
  const original = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
    return stream.write(chunk, callback);
  }) as typeof process.stdout.write;
  return () => {
    process.stdout.write = original;
    stream.end();
  };
}

export const quietLog = {
  debug() {},
  info() {},
  warn: (message: string, ...extra: unknown[]) => console.error(`[local] ${message}`, ...extra),
  error: (message: string, ...extra: unknown[]) => console.error(`[local] ${message}`, ...extra),
};

function mapValues(record: Record<string, number>, map: (value: number) => number): Record<string, number> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, map(value)]));
}
