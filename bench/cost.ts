import { FUNCTIONS } from '../contract/index.ts';
import { RUNTIME_CALLER } from '../local/aws-request-counter.ts';
import { type DynamoUnitsOptions, type DynamoUnitsResult, measureDynamoUnits } from './dynamo-units.ts';
import { type GoalFigure, goal } from './lib/goals.ts';
import { round, spread } from './lib/stats.ts';
import { barChart } from './lib/svg.ts';
import type { PollResult } from './poll.ts';
import type { FunctionFigures, ThroughputResult } from './throughput.ts';

/*
 * Cost model: AWS cost per 1,000 jobs from the work counted by the throughput benchmark and
 * public us-east-1 list prices, beside the same work done by a Step Functions Standard polling
 * loop and by one Lambda that sleeps while it polls.
 *
 * Lambda duration is counted too, not timed: per record, the handler's CPU time (taken with one
 * job at a time, scaled to the function's CPU share) plus, for each AWS or RunComfy call the
 * function made, a per-call latency of the real service (CALL_LATENCY below). Timed durations
 * against moto on a shared machine move with its load; this figure does not, so two runs agree.
 * The timed median is kept beside it.
 *
 * The throughput run uses a fast simulator (each job is done at its first status call), so the
 * poll chain there is one heartbeat per job. The headline figure puts the chain at the number of
 * status calls the poll benchmark measured on the reference latency distribution, scaling every
 * per-heartbeat request by the measured per-heartbeat footprint; the as-measured figure is kept.
 */

/** When the prices were read, and how. */
export const PRICES_AS_OF =
  '2026-12-04: us-east-1 list prices, arm64, no free tier, read from the stored copies of the pricing pages named (search tool); where the stored AWS page did not show the figure, it was confirmed on the third-party page named';

interface Price {
  usd: number;
  /** What the price is, where it was read, and where it was confirmed when the AWS page did not show it. */
  source: string;
}

/** USD, us-east-1, first (lowest-volume) tier. */
export const PRICES = {
  apiGatewayHttpPerRequest: {
    usd: 1.0 / 1e6,
    source:
      'HTTP API, first 300 M requests/month, $1.00 per million: https://aws.amazon.com/api-gateway/pricing/ (stored copy: free tier only); confirmed at https://awsforengineers.com/blog/aws-api-gateway-pricing-explained and https://www.apigatewaycost.com/aws',
  },
  lambdaPerRequest: {
    usd: 0.2 / 1e6,
    source:
      'Requests, $0.20 per million: https://aws.amazon.com/lambda/pricing/ (stored copy: tables not rendered); confirmed at https://cloudchipr.com/blog/aws-lambda-pricing',
  },
  lambdaArmPerGbSecond: {
    usd: 0.0000133334,
    source:
      'Arm duration, first 7.5 B GB-s/month, $0.0000133334 per GB-s: https://aws.amazon.com/lambda/pricing/ (stored copy: tables not rendered); confirmed at https://cloudchipr.com/blog/aws-lambda-pricing',
  },
  sqsPerRequest: {
    usd: 0.4 / 1e6,
    source:
      'Standard queue, $0.40 per million requests (each 64 KB chunk a request): https://aws.amazon.com/sqs/pricing/ (not in the stored pages); confirmed at https://cloudburn.io/blog/amazon-sqs-pricing (US East, March 2026)',
  },
  dynamoPerWriteUnit: {
    usd: 0.625 / 1e6,
    source:
      'On-demand, $0.625 per million write request units: https://aws.amazon.com/dynamodb/pricing/on-demand/ (not in the stored pages); confirmed at https://airbyte.com/data-engineering-resources/dynamodb-pricing (US East)',
  },
  dynamoPerReadUnit: {
    usd: 0.125 / 1e6,
    source:
      'On-demand, $0.125 per million read request units: https://aws.amazon.com/dynamodb/pricing/on-demand/ (not in the stored pages); confirmed at https://airbyte.com/data-engineering-resources/dynamodb-pricing (US East)',
  },
  snsPerPublish: {
    usd: 0.5 / 1e6,
    source:
      'Standard topic, $0.50 per million publishes (64 KB each): https://aws.amazon.com/sns/pricing/ (not in the stored pages); confirmed at https://www.factualminds.com/blog/amazon-sns-pricing-publishes-fanout-protocols/ (us-east-1, June 2026)',
  },
  eventBridgePerEvent: {
    usd: 1.0 / 1e6,
    source:
      'Custom events, $1.00 per million (64 KB each): https://aws.amazon.com/eventbridge/pricing/ (not in the stored pages); confirmed at https://cloudburn.io/blog/amazon-eventbridge-pricing (US East, March 2026)',
  },
  s3PerPutCopyPostList: {
    usd: 0.005 / 1e3,
    source:
      'S3 Standard PUT, COPY, POST, LIST, $0.005 per 1,000: https://aws.amazon.com/s3/pricing/ (not in the stored pages); confirmed at https://www.cloudkaramchari.com/blog/understanding-per-1000-put-copy-post-or-list-requests-in-amazon-s3-pricing/ — the least certain figure here',
  },
  s3PerGet: {
    usd: 0.0004 / 1e3,
    source:
      'S3 Standard GET, SELECT and other, $0.0004 per 1,000: https://aws.amazon.com/s3/pricing/ (not confirmed in the stored pages)',
  },
  s3PerGbMonth: {
    usd: 0.023,
    source:
      'S3 Standard storage, first 50 TB/month, $0.023 per GB-month: https://aws.amazon.com/s3/pricing/ (not confirmed in the stored pages)',
  },
  stepFunctionsStandardPerTransition: {
    usd: 0.025 / 1e3,
    source:
      'Standard workflows, US East (N. Virginia), $0.0250 per 1,000 state transitions: https://aws.amazon.com/step-functions/pricing/ (read there)',
  },
} as const satisfies Record<string, Price>;

export const COST_GOAL_USD_PER_1000 = 0.035;
export const SFN_RATIO_GOAL = 1 / 5;
/** The headline may move at most this much (percent) from the previous full run's. */
export const STABILITY_GOAL_PERCENT = 5;

/**
 * How the headline is computed: a previous figure is compared only when made the same way.
 * `counted-v1`: Lambda duration from CPU time + per-call latencies (before: timed median
 * durations), the CPU time taken with the simulator and the request-counting proxy in the
 * benchmark's process. `counted-v2`: the same, the CPU time taken with the simulator in a process
 * of its own and no proxy (ThroughputResult.lightLoadCpuScope `pipeline`). `counted-v3`: v2 with
 * the poll chain scaled by status calls (the run's poll messages include a job's submission and,
 * in the burst, its admission; v2 counted those as status calls, a chain 2 heartbeats short).
 */
export const COST_METHOD = 'counted-v3';

/** The counted method the throughput figures allow: v2 when their CPU times are the pipeline's alone. */
export function countedMethod(throughput: Pick<ThroughputResult, 'lightLoadCpuScope'>): string {
  return throughput.lightLoadCpuScope === 'pipeline' ? COST_METHOD : 'counted-v1';
}

/** Whether a cost run's Lambda durations were counted (any `counted-v*` method). */
export function isCountedMethod(method: string | undefined): boolean {
  return method?.startsWith('counted-') ?? false;
}

interface Latency {
  ms: number;
  /** Where the figure comes from, or that it is an assumption. */
  source: string;
}

/**
 * What one call costs a Lambda function in wall time on the real service, in us-east-1, from a
 * function in the same region. Where AWS publishes a range the figure is a choice within it; the
 * others are assumptions, said so.
 */
export const CALL_LATENCY = {
  dynamodbItem: {
    ms: 5,
    source:
      'DynamoDB GetItem/PutItem/UpdateItem/DeleteItem/Query: "single-digit millisecond" (https://aws.amazon.com/dynamodb/, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Introduction.html); 5 ms is our pick within it',
  },
  dynamodbTransaction: {
    ms: 10,
    source:
      'DynamoDB TransactWriteItems/TransactGetItems: assumption, twice a single-item call (a transaction prepares, then commits, its items)',
  },
  sqs: {
    ms: 20,
    source:
      'SQS SendMessage: "typical latencies for SendMessage, ReceiveMessage, and DeleteMessage API requests are in the tens or low hundreds of milliseconds" (https://aws.amazon.com/sqs/faqs/); 20 ms is our pick at the low end',
  },
  sns: {
    ms: 20,
    source: 'SNS Publish: assumption (AWS publishes no API latency figure); as SQS',
  },
  events: {
    ms: 20,
    source:
      'EventBridge PutEvents: assumption (AWS publishes no API latency figure); as SQS. Published with SNS in parallel (functions/adapters/aws/aws-notifier.ts): such a pair counts once',
  },
  s3: {
    ms: 30,
    source:
      'S3 PutObject/GetObject/HeadObject of a small object: "median latencies often in the tens of milliseconds" for requests under 512 KB (https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/timeouts-and-retries-for-latency-sensitive-applications.html); 30 ms is our pick; larger outputs take longer (not modelled)',
  },
  otherAws: {
    ms: 20,
    source: 'any other AWS call (e.g. Secrets Manager GetSecretValue): assumption, as SQS',
  },
  runComfyApi: {
    ms: 150,
    source:
      'RunComfy Model API call (submit, status, result, cancel) over the internet: assumption, RunComfy publishes no latency; a TLS connection kept alive, one round trip to a server of unknown location',
  },
  runComfyFile: {
    ms: 200,
    source:
      "Download of one output file from RunComfy's file host: assumption, a round trip plus a small image's transfer (the simulator's are ~16 kB; a 1.5 MB PNG would take longer)",
  },
} as const satisfies Record<string, Latency>;

/**
 * Lambda's CPU share: "At 1,769 MB, a function has the equivalent of one vCPU" and CPU is
 * allocated in proportion to memory (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
 * CPU time measured here is scaled by 1769 / memory MB, taking this machine's core as a
 * Graviton's (an assumption): an upper bound, as Lambda's CPU credits let short bursts run faster.
 */
export const LAMBDA_MB_PER_VCPU = 1769;

/** A typical FLUX.2 [flash] 1 MP PNG, for the storage sensitivity line (the simulator's are tiny). */
export const TYPICAL_OUTPUT_BYTES = 1.5e6;

export interface CostLine {
  service: string;
  /** What was counted, per job. */
  quantityPerJob: number;
  unit: string;
  usdPer1000Jobs: number;
}

export interface Design {
  name: string;
  usdPer1000Jobs: number;
  lines: CostLine[];
}

/** How one function's billed duration per record was counted. */
export interface LambdaDuration {
  memoryMb: number;
  /** CPU ms per record on this machine (median over the light-load invocations). */
  localCpuMsPerRecord: number;
  /** The same scaled to the function's CPU share on Lambda. */
  lambdaCpuMsPerRecord: number;
  /** Calls per record (burst), by kind: `service operation`, `runcomfy api`, `runcomfy file`. */
  callsPerRecord: Record<string, number>;
  /** Waiting on those calls at CALL_LATENCY, ms per record. */
  waitMsPerRecord: number;
  /** Billed ms per record: CPU + wait, each invocation rounded up to 1 ms. */
  billedMsPerRecord: number;
  /** For comparison: the timed median light-load invocation, per record. */
  timedMedianMsPerRecord: number;
}

/** The headline against the previous full run's. */
export interface CostStability {
  method: string;
  /** When the throughput figures this run priced were measured. */
  throughputMeasuredAt?: string;
  /** The last cost run made the same way from a different throughput measurement, if any. */
  previous?: { usdPer1000Jobs: number; measuredAt: string; throughputMeasuredAt: string };
  /** |this − previous| / previous, in percent; absent when there is nothing to compare. */
  changePercent?: number;
  /** Why there is no comparison, when there is none. */
  note?: string;
}

export interface CostResult {
  /** When this cost run was made. */
  measuredAt?: string;
  pricesAsOf: string;
  prices: Record<string, { usdPerUnit: number; source: string }>;
  assumptions: string[];
  /** Status calls per job the headline assumes (poll benchmark, log-normal case). */
  statusCallsPerJob: number;
  statusCallsPerJobMeasured: number;
  meanJobSecondsForSleepingLambda: number;
  designs: { pipeline: Design; pipelineAsMeasured: Design; stepFunctions: Design; sleepingLambda: Design };
  pipelineUsdPer1000Jobs: number;
  pipelineUsdPer1000JobsWithTypicalOutputs: number;
  /** With the timed mean light-load durations instead of counted ones (the emulator's stalls included). */
  pipelineUsdPer1000JobsWithMeanDurations: number;
  /** With the timed median light-load durations (the headline before `counted-v1`). */
  pipelineUsdPer1000JobsWithMedianDurations?: number;
  /** Counted, but with the CPU time as measured here (not scaled to Lambda's CPU share). */
  pipelineUsdPer1000JobsWithUnscaledCpu?: number;
  /**
   * Of the headline: requests, DynamoDB units and stored bytes, and Lambda GB-s (counted:
   * CPU time + per-call latencies). Before `counted-v1` the second was timed.
   */
  pipelineSplit: { countedUsdPer1000Jobs: number; timedUsdPer1000Jobs: number };
  /**
   * Of the headline: the poll chain (every poll message with its queue traffic, poller
   * invocation and job write), and what one more status call adds, per 1,000 jobs.
   */
  pollChain?: { usdPer1000Jobs: number; usdPer1000JobsPerStatusCall: number };
  /** Per function, how its duration was counted (absent when the throughput run had no CPU times). */
  lambdaDurations?: Record<string, LambdaDuration>;
  callLatencyMs?: Record<string, { ms: number; source: string }>;
  method?: string;
  stability?: CostStability;
  stepFunctionsUsdPer1000Jobs: number;
  sleepingLambdaUsdPer1000Jobs: number;
  ratioToStepFunctions: number;
  ratioToSleepingLambda: number;
  goalUsdPer1000Jobs: number;
  goalRatioToStepFunctions: number;
  goalMet: boolean;
  /** Every goal with its figure. */
  goals: { name: string; figure: number; unit: string; goal: string; met: boolean }[];
  /** DynamoDB units per job and per transition, when measured (else the estimate from item size). */
  dynamo?: DynamoUnitsResult;
  /** The pipeline's DynamoDB units per job at the headline's status calls. */
  dynamoWruPerJob: number;
  dynamoRruPerJob: number;
}

/**
 * Billed ms per record of a function. `counted` (the headline): CPU time + per-call latencies,
 * see countedDuration (`counted-unscaled`: the CPU time as measured here, not scaled to Lambda's
 * CPU share, a sensitivity figure). `median` / `mean`: the timed light-load invocations, for comparison
 * (locally the slow tail is the emulator stalling, moto serving every call on one core).
 */
type DurationStatistic = 'counted' | 'counted-unscaled' | 'median' | 'mean';

function msPerRecord(figures: FunctionFigures | undefined, statistic: 'median' | 'mean'): number {
  if (!figures || figures.records === 0) return 0;
  const perInvocation =
    statistic === 'median' ? Math.ceil(figures.p50Ms) : figures.billedMs / figures.invocations;
  return (perInvocation * figures.invocations) / figures.records;
}

/** The per-call latency of one `service operation` (or RunComfy call kind). */
function latencyOf(key: string): number {
  const [service, operation = ''] = key.split(' ');
  if (service === 'runcomfy')
    return operation === 'file' ? CALL_LATENCY.runComfyFile.ms : CALL_LATENCY.runComfyApi.ms;
  if (service === 'dynamodb')
    return operation.startsWith('Transact')
      ? CALL_LATENCY.dynamodbTransaction.ms
      : CALL_LATENCY.dynamodbItem.ms;
  if (service === 'sqs') return CALL_LATENCY.sqs.ms;
  if (service === 'sns') return CALL_LATENCY.sns.ms;
  if (service === 'events') return CALL_LATENCY.events.ms;
  if (service === 's3') return CALL_LATENCY.s3.ms;
  return CALL_LATENCY.otherAws.ms;
}

/** ms of waiting for these calls; SNS publishes and EventBridge puts go out in pairs, together. */
function waitMs(calls: ReadonlyMap<string, number> | Record<string, number>): number {
  const entries = calls instanceof Map ? [...calls.entries()] : Object.entries(calls);
  let total = 0;
  let sns = 0;
  let events = 0;
  for (const [key, count] of entries) {
    total += count * latencyOf(key);
    if (key.startsWith('sns ')) sns += count;
    if (key.startsWith('events ')) events += count;
  }
  return total - Math.min(sns, events) * Math.min(CALL_LATENCY.sns.ms, CALL_LATENCY.events.ms);
}

/** Lambda CPU ms for `localMs` of this machine's CPU at `memoryMb`. */
function lambdaCpuMs(localMs: number, memoryMb: number): number {
  return localMs * Math.max(1, LAMBDA_MB_PER_VCPU / memoryMb);
}

/**
 * A function's duration per record from counted work: its calls per record in the burst (AWS
 * requests it sent, RunComfy calls it fetched) at CALL_LATENCY, plus its light-load CPU time per
 * record scaled to its CPU share; each invocation billed rounded up to 1 ms.
 */
function countedDuration(
  throughput: ThroughputResult,
  name: string,
  scaled = true,
): LambdaDuration | undefined {
  const burst = throughput.lambda[name];
  const light = throughput.lambdaLightLoad[name];
  if (!burst || burst.records === 0 || !light?.cpuMsPerRecord || !throughput.httpCalls) return undefined;
  const calls = new Map<string, number>();
  const add = (key: string, count: number) => calls.set(key, (calls.get(key) ?? 0) + count / burst.records);
  for (const tally of throughput.requests)
    if (tally.caller === name) add(`${tally.service} ${tally.operation}`, tally.count);
  for (const tally of throughput.httpCalls) {
    if (tally.caller !== name) continue;
    add(tally.kind === 'output-file' ? 'runcomfy file' : 'runcomfy api', tally.count);
  }
  const localCpu = light.cpuMsPerRecord.median;
  const cpu = scaled ? lambdaCpuMs(localCpu, burst.memoryMb) : localCpu;
  const wait = waitMs(calls);
  const recordsPerInvocation = burst.records / Math.max(1, burst.invocations);
  const billedPerInvocation = Math.ceil((cpu + wait) * recordsPerInvocation);
  return {
    memoryMb: burst.memoryMb,
    localCpuMsPerRecord: round(localCpu, 2),
    lambdaCpuMsPerRecord: round(cpu, 2),
    callsPerRecord: Object.fromEntries([...calls.entries()].map(([key, value]) => [key, round(value, 3)])),
    waitMsPerRecord: round(wait, 2),
    billedMsPerRecord: round(billedPerInvocation / recordsPerInvocation, 2),
    timedMedianMsPerRecord: round(msPerRecord(light, 'median'), 2),
  };
}

/** Billed ms per record of `name` by `statistic` (counted falls back to the timed median without CPU data). */
function durationPerRecord(throughput: ThroughputResult, name: string, statistic: DurationStatistic): number {
  const light = throughput.lambdaLightLoad[name] ?? throughput.lambda[name];
  if (statistic === 'median' || statistic === 'mean') return msPerRecord(light, statistic);
  return (
    countedDuration(throughput, name, statistic === 'counted')?.billedMsPerRecord ??
    msPerRecord(light, 'median')
  );
}

/** Whether the throughput figures carry what the counted durations need. */
function canCount(throughput: ThroughputResult): boolean {
  return (
    throughput.httpCalls !== undefined &&
    Object.values(throughput.lambdaLightLoad).some((figures) => figures.cpuMsPerRecord !== undefined)
  );
}

/** DynamoDB units per job, as counted by bench/dynamo-units.ts. */
interface MeasuredUnits {
  wru: number;
  rru: number;
}

interface Counts {
  /** Requests by `service operation`, per job. */
  perJob: Map<string, number>;
  /** Lambda invocations and GB-seconds per job, by function. */
  lambda: Map<string, { invocations: number; gbSeconds: number }>;
  dynamoItems: { transactItemsPerJob: number };
}

/**
 * Measures DynamoDB's units per job (bench/dynamo-units.ts), then prices the pipeline with them:
 * what the benchmark registry calls for the cost case.
 */
export async function runCostBenchmark(
  throughput: ThroughputResult,
  poll: PollResult,
  options: DynamoUnitsOptions = {},
  previous: PreviousCost = {},
): Promise<CostResult> {
  return runCostModel(throughput, poll, await measureDynamoUnits(options), previous);
}

/** What the last run left: its cost figures, and when the throughput figures priced now were measured. */
export interface PreviousCost {
  cost?: CostResult;
  throughputMeasuredAt?: string;
  /** When this run is made (default: now). */
  now?: string;
}

/**
 * Without `dynamo`, DynamoDB is priced from the throughput run's request counts and its final
 * item size (the old estimate: no index writes, every write at the final item's size).
 */
export function runCostModel(
  throughput: ThroughputResult,
  poll: PollResult,
  dynamo?: DynamoUnitsResult,
  previous: PreviousCost = {},
): CostResult {
  const counted = canCount(throughput);
  const headline: DurationStatistic = counted ? 'counted' : 'median';
  const jobs = throughput.jobs;
  const pollMessagesPerJob = (throughput.lambda.poller?.records ?? 0) / jobs;
  const statusCallsMeasured = throughput.upstreamCallsPerJob.status ?? pollMessagesPerJob;
  const reference = poll.cases.logNormal.policies.find((p) => p.schedule === 'ours')!;
  const statusCalls = reference.meanStatusCallsPerJob;
  const wru = Math.max(1, Math.ceil(throughput.meanJobItemBytes / 1024));
  const rru = Math.max(1, Math.ceil(throughput.meanJobItemBytes / 4096));

  // Per-heartbeat footprint, as measured: what the poller and its queue cost per poll message.
  const measured = countsFrom(throughput, { statistic: headline });
  const heartbeat = heartbeatFootprint(throughput, pollMessagesPerJob, headline);
  // The run's poll messages are more than its status calls (a job's submission heartbeat and, in
  // the burst, its admission come through the poll queue too): the chain grows by status calls.
  const extraHeartbeats = Math.max(0, statusCalls - statusCallsMeasured);

  // Measured units per job at a given number of status calls: the run's, each further heartbeat
  // adding its own write and read (0 status calls: the job without its poll chain).
  const unitsAt = (calls: number): MeasuredUnits | undefined =>
    dynamo && {
      wru: dynamo.wruPerJob + (calls - dynamo.statusCallsPerJob) * dynamo.wruPerHeartbeat,
      rru: dynamo.rruPerJob + (calls - dynamo.statusCallsPerJob) * dynamo.rruPerHeartbeat,
    };
  const priced = (
    name: string,
    counts: Counts,
    heartbeats: number,
    calls: number,
    outputBytes = throughput.meanOutputBytes,
  ) =>
    priceDesign(name, counts, heartbeats, heartbeat, {
      wru,
      rru,
      throughput,
      outputBytes,
      measured: unitsAt(calls),
    });

  const pipelineAsMeasured = priced(
    `pipeline (as measured: ${round(statusCallsMeasured, 2)} status calls per job)`,
    measured,
    0,
    statusCallsMeasured,
  );
  const pipeline = priced(
    `pipeline (${statusCalls} status calls per job)`,
    measured,
    extraHeartbeats,
    statusCalls,
  );
  const withTypicalOutputs = priced(
    'pipeline, typical outputs',
    measured,
    extraHeartbeats,
    statusCalls,
    TYPICAL_OUTPUT_BYTES,
  );
  const withTimed = (statistic: DurationStatistic) =>
    priceDesign(
      `pipeline, ${statistic} durations`,
      countsFrom(throughput, { statistic }),
      extraHeartbeats,
      heartbeatFootprint(throughput, pollMessagesPerJob, statistic),
      { wru, rru, throughput, outputBytes: throughput.meanOutputBytes, measured: unitsAt(statusCalls) },
    );
  const withMeanDurations = withTimed('mean');
  const withMedianDurations = withTimed('median');
  const withUnscaledCpu = counted ? withTimed('counted-unscaled') : undefined;

  // Alternatives: the same job minus the SQS/DynamoDB poll chain, plus their own polling cost.
  const withoutChain = priced(
    'base',
    countsFrom(throughput, { withoutPollChain: true, statistic: headline }),
    0,
    0,
  );
  // The Step Functions loop's status check does at most the poller's work.
  const pollerGbSecondsPerPoll = heartbeat.lambdaGbSeconds;
  const transitions = 3 * statusCalls + 5;
  const stepFunctions: Design = {
    name: 'Step Functions Standard polling loop',
    lines: [
      ...withoutChain.lines,
      line(
        'Step Functions state transitions',
        transitions,
        'transitions',
        PRICES.stepFunctionsStandardPerTransition.usd,
      ),
      line(
        'Lambda requests (status check per poll)',
        statusCalls,
        'invocations',
        PRICES.lambdaPerRequest.usd,
      ),
      line(
        'Lambda GB-s (status check per poll)',
        statusCalls * pollerGbSecondsPerPoll,
        'GB-s',
        PRICES.lambdaArmPerGbSecond.usd,
      ),
    ],
    usdPer1000Jobs: 0,
  };
  const jobSeconds = poll.cases.logNormal.meanUpstreamSeconds + reference.meanAddedDelaySeconds;
  const sleepingLambda: Design = {
    name: 'one Lambda sleeping while it polls',
    lines: [
      ...withoutChain.lines,
      line('Lambda requests (the sleeper)', 1, 'invocations', PRICES.lambdaPerRequest.usd),
      line(
        `Lambda GB-s (sleeping ${round(jobSeconds, 1)} s at ${FUNCTIONS.poller.memoryMb} MB)`,
        jobSeconds * (FUNCTIONS.poller.memoryMb / 1024),
        'GB-s',
        PRICES.lambdaArmPerGbSecond.usd,
      ),
    ],
    usdPer1000Jobs: 0,
  };
  for (const design of [stepFunctions, sleepingLambda]) design.usdPer1000Jobs = total(design.lines);

  const ratio = pipeline.usdPer1000Jobs / stepFunctions.usdPer1000Jobs;
  const method = counted ? countedMethod(throughput) : 'timed-median';
  const measuredAt = previous.now ?? new Date().toISOString();
  const stability = compareWithPrevious(round(pipeline.usdPer1000Jobs, 4), method, previous);
  const lambdaDurations = counted
    ? Object.fromEntries(
        Object.keys(throughput.lambda).flatMap((name) => {
          const duration = countedDuration(throughput, name);
          return duration ? [[name, duration] as const] : [];
        }),
      )
    : undefined;
  return {
    measuredAt,
    method,
    pricesAsOf: PRICES_AS_OF,
    prices: Object.fromEntries(
      Object.entries(PRICES).map(([key, price]) => [key, { usdPerUnit: price.usd, source: price.source }]),
    ),
    assumptions: [
      dynamo
        ? `DynamoDB: counted per job through the real store adapters on moto (${dynamo.jobs} jobs, ${dynamo.statusCallsPerJob} status calls each): ${dynamo.wruPerJob} WRU and ${dynamo.rruPerJob} RRU, each write billed at max(item before, after) per started KB, twice in a transaction, plus one WRU per index entry put or deleted; each further heartbeat ${dynamo.wruPerHeartbeat} WRU + ${dynamo.rruPerHeartbeat} RRU. By transition (WRU per job): ${dynamo.writes.map((w) => `${w.name} ${w.wru}${w.indexWru ? ` (indexes ${w.indexWru})` : ''}`).join(', ')}`
        : `DynamoDB: job item ≈ ${throughput.meanJobItemBytes} B, so ${wru} WRU per write (2 per item in a transaction) and ${rru} RRU per strongly consistent read (estimate: no index writes)`,
      `poll chain: the run's ${round(pollMessagesPerJob, 2)} poll messages per job (${round(statusCallsMeasured, 2)} of them status calls; the others a job's submission and, in the burst, its admission) and ${round(extraHeartbeats, 2)} further heartbeats, to ${statusCalls} status calls per job (poll benchmark, log-normal case); per heartbeat, the run's mean per poll message (admission reads included, so a plain status heartbeat is priced high): ${describeHeartbeat(heartbeat)}`,
      'event source mappings: receives that returned messages and deletes as the local driver made them in the burst (batched), and one receive + one delete for each further heartbeat; empty receives are a fixed cost per queue, not per job (Lambda keeps ~5 long polls of 20 s open: ~650 k requests, ~$0.26 a month per queue)',
      counted
        ? `Lambda durations, counted (not timed): per record, the handler's CPU time + its calls at a per-call latency of the real service, each invocation billed rounded up to 1 ms; arm64. CPU time: the median of this process's CPU time (user + system) over each invocation of ${throughput.lightLoadJobs} jobs run one at a time after the burst; ${
            throughput.lightLoadCpuScope === 'pipeline'
              ? `a pipeline of its own talking to moto directly (no counting proxy) and to the simulator in another process, so what remains beside the handler is the local runtime's own work that overlaps an invocation (the SQS driver's ${throughput.lightLoadDriver?.waitTimeSeconds ?? 20} s long polls and deletes, the local HTTP API in front of submit, the benchmark's timing wrapper)`
              : 'it includes the in-process local stack serving the handler (request-counting proxy, simulator, SQS driver), so it is an upper bound'
          }; scaled by ${LAMBDA_MB_PER_VCPU} / memory MB for Lambda's CPU share ("at 1,769 MB, a function has the equivalent of one vCPU": https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html; this machine's core taken as a Graviton's, an assumption; Lambda's CPU credits let short bursts run faster, so this errs high). Calls per record: each function's AWS requests and RunComfy fetches in the burst. The timed light-load durations against moto are shown apart (median and mean): they move with the machine's load`
        : "Lambda durations: median handler invocation under light load after the burst (the throughput figures have no CPU times to count durations from; the mean, which carries the emulator's stalls, is shown apart), billed rounded up to 1 ms; arm64",
      ...(counted
        ? Object.values(CALL_LATENCY).map((latency) => `per-call latency ${latency.ms} ms: ${latency.source}`)
        : []),
      `S3 storage: outputs kept one month (the stack's default retention is 30 days); measured outputs average ${throughput.meanOutputBytes} B (simulator images); a typical 1 MP PNG of ${TYPICAL_OUTPUT_BYTES / 1e6} MB is shown apart`,
      'not included: CloudWatch Logs ingestion and metrics, KMS requests, data transfer out, X-Ray traces, free tiers',
      `Step Functions loop: Submit task, then Wait + CheckStatus (Lambda) + Choice per status call, then copy, notify, event, succeed: 3 x ${statusCalls} + 5 transitions; the DynamoDB job record, API, submit/result functions, SNS, EventBridge and S3 stay as in the pipeline`,
      `sleeping Lambda: one invocation at the poller's ${FUNCTIONS.poller.memoryMb} MB for the whole job (${round(jobSeconds, 1)} s = mean upstream latency + added delay of the poll benchmark), then the same result path`,
    ],
    statusCallsPerJob: statusCalls,
    statusCallsPerJobMeasured: round(statusCallsMeasured, 2),
    meanJobSecondsForSleepingLambda: round(jobSeconds, 2),
    designs: { pipeline, pipelineAsMeasured, stepFunctions, sleepingLambda },
    pipelineUsdPer1000Jobs: round(pipeline.usdPer1000Jobs, 4),
    pipelineUsdPer1000JobsWithTypicalOutputs: round(withTypicalOutputs.usdPer1000Jobs, 4),
    pipelineUsdPer1000JobsWithMeanDurations: round(withMeanDurations.usdPer1000Jobs, 4),
    pipelineUsdPer1000JobsWithMedianDurations: round(withMedianDurations.usdPer1000Jobs, 4),
    ...(withUnscaledCpu
      ? { pipelineUsdPer1000JobsWithUnscaledCpu: round(withUnscaledCpu.usdPer1000Jobs, 4) }
      : {}),
    pipelineSplit: splitByKind(pipeline),
    ...(extraHeartbeats > 0
      ? {
          pollChain: {
            usdPer1000Jobs: round(pipeline.usdPer1000Jobs - withoutChain.usdPer1000Jobs, 4),
            usdPer1000JobsPerStatusCall: round(
              (pipeline.usdPer1000Jobs - pipelineAsMeasured.usdPer1000Jobs) / extraHeartbeats,
              5,
            ),
          },
        }
      : {}),
    ...(lambdaDurations ? { lambdaDurations } : {}),
    ...(counted
      ? {
          callLatencyMs: Object.fromEntries(
            Object.entries(CALL_LATENCY).map(([key, latency]) => [
              key,
              { ms: latency.ms, source: latency.source },
            ]),
          ),
        }
      : {}),
    stability,
    stepFunctionsUsdPer1000Jobs: round(stepFunctions.usdPer1000Jobs, 4),
    sleepingLambdaUsdPer1000Jobs: round(sleepingLambda.usdPer1000Jobs, 4),
    ratioToStepFunctions: round(ratio, 3),
    ratioToSleepingLambda: round(pipeline.usdPer1000Jobs / sleepingLambda.usdPer1000Jobs, 3),
    goalUsdPer1000Jobs: COST_GOAL_USD_PER_1000,
    goalRatioToStepFunctions: SFN_RATIO_GOAL,
    goalMet: pipeline.usdPer1000Jobs <= COST_GOAL_USD_PER_1000 && ratio <= SFN_RATIO_GOAL,
    goals: [
      {
        name: 'USD per 1,000 jobs at default settings, no free tier',
        figure: round(pipeline.usdPer1000Jobs, 4),
        unit: 'USD',
        goal: `≤ ${COST_GOAL_USD_PER_1000}`,
        met: pipeline.usdPer1000Jobs <= COST_GOAL_USD_PER_1000,
      },
      {
        name: 'ratio to a Step Functions Standard polling loop',
        figure: round(ratio, 3),
        unit: '×',
        goal: `≤ ${round(SFN_RATIO_GOAL, 2)}`,
        met: ratio <= SFN_RATIO_GOAL,
      },
      {
        name: 'change from the previous full run (same method, throughput re-measured)',
        figure: stability.changePercent ?? Number.NaN,
        unit: '%',
        goal: `≤ ${STABILITY_GOAL_PERCENT}`,
        met: stability.changePercent !== undefined && stability.changePercent <= STABILITY_GOAL_PERCENT,
      },
    ],
    ...(dynamo ? { dynamo } : {}),
    dynamoWruPerJob: round(
      pipeline.lines.find((l) => l.service === 'DynamoDB writes')?.quantityPerJob ?? 0,
      2,
    ),
    dynamoRruPerJob: round(
      pipeline.lines.find((l) => l.service === 'DynamoDB reads')?.quantityPerJob ?? 0,
      2,
    ),
  };
}

/**
 * Requests and Lambda use per job; `withoutPollChain` leaves out the poller, its queue's traffic
 * and the first poll message, i.e. what a design that polls another way would not do.
 */
function countsFrom(
  throughput: ThroughputResult,
  options: { withoutPollChain?: boolean; statistic: DurationStatistic },
): Counts {
  const jobs = throughput.jobs;
  const perJob = new Map<string, number>();
  let transactItems = 0;
  for (const tally of throughput.requests) {
    if (tally.caller === RUNTIME_CALLER && !isEventSourceMapping(tally.service, tally.operation)) continue;
    const pollChain = tally.caller === 'poller' || (tally.resource?.endsWith('-poll') ?? false);
    if (options.withoutPollChain && pollChain) continue;
    const key = `${tally.service} ${tally.operation}`;
    const count = tally.operation === 'ReceiveMessage' ? tally.count - (tally.empty ?? 0) : tally.count;
    perJob.set(key, (perJob.get(key) ?? 0) + count / jobs);
    if (tally.operation === 'TransactWriteItems') transactItems += tally.items ?? 0;
  }
  const lambda = new Map<string, { invocations: number; gbSeconds: number }>();
  for (const [name, burst] of Object.entries(throughput.lambda)) {
    if (options.withoutPollChain && name === 'poller') continue;
    // Invocations as the burst made them; duration per record counted (or timed, under light load).
    const ms = durationPerRecord(throughput, name, options.statistic);
    lambda.set(name, {
      invocations: burst.invocations / jobs,
      gbSeconds: ((burst.records / jobs) * ms * (burst.memoryMb / 1024)) / 1000,
    });
  }
  return { perJob, lambda, dynamoItems: { transactItemsPerJob: transactItems / jobs } };
}

function isEventSourceMapping(service: string, operation: string): boolean {
  return (
    service === 'sqs' &&
    ['ReceiveMessage', 'DeleteMessageBatch', 'DeleteMessage', 'ChangeMessageVisibilityBatch'].includes(
      operation,
    )
  );
}

interface Heartbeat {
  /** Requests per poll message, by `service operation` (poller's own, plus the poll queue's send/receive/delete). */
  requests: Map<string, number>;
  lambdaInvocations: number;
  lambdaGbSeconds: number;
}

/** What one poll heartbeat costs, from the poller's requests and the poll queue's traffic. */
function heartbeatFootprint(
  throughput: ThroughputResult,
  pollMessagesPerJob: number,
  statistic: DurationStatistic,
): Heartbeat {
  const messages = Math.max(1, pollMessagesPerJob * throughput.jobs);
  const requests = new Map<string, number>();
  for (const tally of throughput.requests) {
    const pollQueue = tally.resource?.endsWith('-poll') ?? false;
    // The poller's notifications (the `started` event) go out once per job, when RunComfy is first
    // seen running, whatever the number of status calls: not part of a heartbeat.
    const perJobNotice = tally.service === 'events' || tally.service === 'sns';
    const byPoller =
      tally.caller === 'poller' && !perJobNotice && !(tally.operation === 'SendMessage' && !pollQueue);
    const pollQueueTraffic =
      pollQueue &&
      ((tally.caller === RUNTIME_CALLER && isEventSourceMapping(tally.service, tally.operation)) ||
        (tally.caller !== 'poller' && tally.operation === 'SendMessage'));
    if (!byPoller && !pollQueueTraffic) continue;
    const count = tally.operation === 'ReceiveMessage' ? tally.count - (tally.empty ?? 0) : tally.count;
    const key = `${tally.service} ${tally.operation}`;
    requests.set(key, (requests.get(key) ?? 0) + count / messages);
  }
  // A quiet queue hands the poller one message per receive: count each further heartbeat's receive
  // and delete at one each, not at the burst's batched rate. The last heartbeat's send to the
  // result queue stays with the job, so it is not part of the footprint (the filter above).
  requests.set('sqs ReceiveMessage', 1);
  requests.set('sqs DeleteMessageBatch', 1);
  const ms = heartbeatMs(throughput, requests, statistic);
  return {
    requests,
    // Conservative: one invocation per heartbeat (a quiet queue delivers batches of one).
    lambdaInvocations: 1,
    lambdaGbSeconds: (ms / 1000) * (FUNCTIONS.poller.memoryMb / 1024),
  };
}

/**
 * One heartbeat's poller duration. Counted: the poller's CPU per record, plus its own calls of a
 * heartbeat (all but the event source mapping's receive and delete) and one RunComfy status call.
 */
function heartbeatMs(
  throughput: ThroughputResult,
  requests: ReadonlyMap<string, number>,
  statistic: DurationStatistic,
): number {
  const light = throughput.lambdaLightLoad.poller ?? throughput.lambda.poller;
  const counted =
    statistic === 'counted' || statistic === 'counted-unscaled'
      ? countedDuration(throughput, 'poller', statistic === 'counted')
      : undefined;
  if (!counted) return msPerRecord(light, statistic === 'mean' ? 'mean' : 'median');
  const calls = new Map(
    [...requests.entries()].filter(
      ([key]) => key !== 'sqs ReceiveMessage' && key !== 'sqs DeleteMessageBatch',
    ),
  );
  calls.set('runcomfy api', 1);
  return Math.ceil(counted.lambdaCpuMsPerRecord + waitMs(calls));
}

/**
 * The headline against the last cost run made the same way from another throughput measurement
 * (a cost run on the same throughput figures re-prices the same durations: no test of stability).
 */
export function compareWithPrevious(
  usdPer1000Jobs: number,
  method: string,
  previous: PreviousCost,
): CostStability {
  const base = {
    method,
    ...(previous.throughputMeasuredAt ? { throughputMeasuredAt: previous.throughputMeasuredAt } : {}),
  };
  if (!previous.throughputMeasuredAt)
    return { ...base, note: 'the throughput figures priced have no measurement time' };
  const last = previous.cost;
  let reference: CostStability['previous'];
  if (last?.method === method && last.stability?.throughputMeasuredAt) {
    reference =
      last.stability.throughputMeasuredAt !== previous.throughputMeasuredAt
        ? {
            usdPer1000Jobs: last.pipelineUsdPer1000Jobs,
            measuredAt: last.measuredAt ?? '',
            throughputMeasuredAt: last.stability.throughputMeasuredAt,
          }
        : last.stability.previous;
  }
  if (!reference) {
    return {
      ...base,
      note:
        last?.method === method
          ? 'no previous cost run of this method priced another throughput measurement'
          : `no previous cost run made the same way (${method}; the last was ${last?.method ?? 'timed-median'})`,
    };
  }
  if (reference.throughputMeasuredAt === previous.throughputMeasuredAt) {
    return { ...base, note: 'the previous run priced the same throughput measurement' };
  }
  return {
    ...base,
    previous: reference,
    changePercent: round(
      (Math.abs(usdPer1000Jobs - reference.usdPer1000Jobs) / reference.usdPer1000Jobs) * 100,
      2,
    ),
  };
}

function describeHeartbeat(heartbeat: Heartbeat): string {
  const parts = [...heartbeat.requests.entries()].map(([key, value]) => `${round(value, 2)} ${key}`);
  return `${parts.join(', ')}, 1 poller invocation, ${round(heartbeat.lambdaGbSeconds, 4)} GB-s`;
}

function priceDesign(
  name: string,
  counts: Counts,
  extraHeartbeats: number,
  heartbeat: Heartbeat,
  context: {
    wru: number;
    rru: number;
    throughput: ThroughputResult;
    outputBytes: number;
    measured?: MeasuredUnits;
  },
): Design {
  const requests = new Map(counts.perJob);
  for (const [key, value] of heartbeat.requests)
    requests.set(key, (requests.get(key) ?? 0) + extraHeartbeats * value);
  const get = (service: string, filter: (operation: string) => boolean = () => true) =>
    [...requests.entries()]
      .filter(([key]) => key.startsWith(`${service} `) && filter(key.slice(service.length + 1)))
      .reduce((sum, [, value]) => sum + Math.max(0, value), 0);

  const lambdaInvocations =
    [...counts.lambda.values()].reduce((sum, l) => sum + l.invocations, 0) +
    extraHeartbeats * heartbeat.lambdaInvocations;
  const lambdaGbSeconds =
    [...counts.lambda.values()].reduce((sum, l) => sum + l.gbSeconds, 0) +
    extraHeartbeats * heartbeat.lambdaGbSeconds;

  const isRead = (operation: string) => /^(Get|BatchGet|Query|Scan|TransactGet)/.test(operation);
  const transactItemsPerCall =
    counts.dynamoItems.transactItemsPerJob /
    Math.max(1e-9, counts.perJob.get('dynamodb TransactWriteItems') ?? 0);
  const transactCalls = get('dynamodb', (operation) => operation === 'TransactWriteItems');
  const plainWrites = get(
    'dynamodb',
    (operation) => !isRead(operation) && operation !== 'TransactWriteItems',
  );
  const writeUnits =
    context.measured?.wru ??
    plainWrites * context.wru + transactCalls * transactItemsPerCall * 2 * context.wru;
  const readUnits = context.measured?.rru ?? get('dynamodb', isRead) * context.rru;

  const s3Writes = get('s3', (operation) => !/^(Get|Head)/.test(operation));
  const s3Reads = get('s3', (operation) => /^(Get|Head)/.test(operation));
  const outputsPerJob = context.throughput.outputsPerJob;
  const storedGb = (outputsPerJob * context.outputBytes) / 1e9;

  const lines = [
    line('API Gateway HTTP API', 1, 'requests', PRICES.apiGatewayHttpPerRequest.usd),
    line('Lambda requests', lambdaInvocations, 'invocations', PRICES.lambdaPerRequest.usd),
    line('Lambda GB-s (arm64)', lambdaGbSeconds, 'GB-s', PRICES.lambdaArmPerGbSecond.usd),
    line('SQS', get('sqs'), 'requests', PRICES.sqsPerRequest.usd),
    line('DynamoDB writes', writeUnits, 'WRU', PRICES.dynamoPerWriteUnit.usd),
    line('DynamoDB reads', readUnits, 'RRU', PRICES.dynamoPerReadUnit.usd),
    line('SNS publishes', get('sns'), 'publishes', PRICES.snsPerPublish.usd),
    line('EventBridge PutEvents', get('events'), 'events', PRICES.eventBridgePerEvent.usd),
    line('S3 PUT/COPY/POST', s3Writes, 'requests', PRICES.s3PerPutCopyPostList.usd),
    line('S3 GET/HEAD', s3Reads, 'requests', PRICES.s3PerGet.usd),
    line('S3 storage (1 month)', storedGb, 'GB-month', PRICES.s3PerGbMonth.usd),
  ];
  return { name, lines, usdPer1000Jobs: total(lines) };
}

/** The design's total, split into its Lambda GB-s line and the rest. */
function splitByKind(design: Design): CostResult['pipelineSplit'] {
  const timed = design.lines.filter((l) => l.unit === 'GB-s').reduce((sum, l) => sum + l.usdPer1000Jobs, 0);
  return {
    countedUsdPer1000Jobs: round(design.usdPer1000Jobs - timed, 4),
    timedUsdPer1000Jobs: round(timed, 4),
  };
}

function line(service: string, quantityPerJob: number, unit: string, usdPerUnit: number): CostLine {
  return {
    service,
    quantityPerJob: round(quantityPerJob, 6),
    unit,
    usdPer1000Jobs: round(quantityPerJob * usdPerUnit * 1000, 6),
  };
}

function total(lines: CostLine[]): number {
  return round(
    lines.reduce((sum, l) => sum + l.usdPer1000Jobs, 0),
    6,
  );
}

/**
 * The headline's change from the previous full run's (its throughput re-measured, the same
 * method): not met, and saying why, when there is nothing to compare with.
 */
export function costStabilityGoal(cost: CostResult): GoalFigure {
  const stability = cost.stability;
  const previous = stability?.previous;
  const compared = stability?.changePercent !== undefined && previous !== undefined;
  return goal({
    id: 'cost.change-from-previous',
    label: compared
      ? `cost: change from the previous run ($${previous.usdPer1000Jobs.toFixed(4)}, ${previous.measuredAt.slice(0, 16)})`
      : `cost: change from the previous run (none to compare: ${stability?.note ?? 'no stability record'})`,
    unit: '%',
    figure: spread(compared ? [stability.changePercent!] : [], 2),
    goal: { op: '<=', value: STABILITY_GOAL_PERCENT },
    baseline: compared
      ? `the previous cost run made the same way (${stability.method}) from another throughput measurement (${previous.throughputMeasuredAt})`
      : 'none: not judged met',
  });
}

export function costCharts(result: CostResult): Record<string, string> {
  const { pipeline, stepFunctions, sleepingLambda } = result.designs;
  return {
    'cost.svg': barChart({
      title: 'AWS cost per 1,000 jobs (us-east-1 list prices)',
      unit: 'USD per 1,000 jobs ($)',
      digits: 3,
      bars: [
        {
          label: 'this pipeline',
          value: pipeline.usdPer1000Jobs,
          color: '#2f9e44',
          note: `$${pipeline.usdPer1000Jobs.toFixed(4)}`,
        },
        {
          label: 'Step Functions loop',
          value: stepFunctions.usdPer1000Jobs,
          color: '#868e96',
          note: `$${stepFunctions.usdPer1000Jobs.toFixed(4)}`,
        },
        {
          label: 'sleeping Lambda',
          value: sleepingLambda.usdPer1000Jobs,
          color: '#868e96',
          note: `$${sleepingLambda.usdPer1000Jobs.toFixed(4)}`,
        },
      ],
      goals: [{ value: COST_GOAL_USD_PER_1000, label: `goal $${COST_GOAL_USD_PER_1000}` }],
    }),
  };
}
