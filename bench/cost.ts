import { FUNCTIONS } from '../contract/index.ts';
import { type DynamoUnitsOptions, type DynamoUnitsResult, measureDynamoUnits } from './dynamo-units.ts';
import { RUNTIME_CALLER } from './lib/aws-request-counter.ts';
import { round } from './lib/stats.ts';
import { barChart } from './lib/svg.ts';
import type { PollResult } from './poll.ts';
import type { FunctionFigures, ThroughputResult } from './throughput.ts';

/*
 * Cost model: AWS cost per 1,000 jobs from the request counts and handler durations measured by
 * the throughput benchmark and public us-east-1 list prices, beside the same work done by a
 * Step Functions Standard polling loop and by one Lambda that sleeps while it polls.
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

export interface CostResult {
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
  /** With the mean light-load durations instead of the median (the emulator's stalls included). */
  pipelineUsdPer1000JobsWithMeanDurations: number;
  /**
   * Of the headline, what is priced from counted work (requests, DynamoDB units, stored bytes) and
   * what from timed handler durations (Lambda GB-s): the first repeats from run to run, the second
   * moves with the machine's load (the local stack's answers slow down with it).
   */
  pipelineSplit: { countedUsdPer1000Jobs: number; timedUsdPer1000Jobs: number };
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
 * Billed ms per record of a function under light load. The median invocation is the default:
 * locally the slow tail is the emulator stalling (moto serves every call on one core), not
 * function work; the mean is kept as a sensitivity figure.
 */
type DurationStatistic = 'median' | 'mean';

function msPerRecord(figures: FunctionFigures | undefined, statistic: DurationStatistic): number {
  if (!figures || figures.records === 0) return 0;
  const perInvocation =
    statistic === 'median' ? Math.ceil(figures.p50Ms) : figures.billedMs / figures.invocations;
  return (perInvocation * figures.invocations) / figures.records;
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
): Promise<CostResult> {
  return runCostModel(throughput, poll, await measureDynamoUnits(options));
}

/**
 * Without `dynamo`, DynamoDB is priced from the throughput run's request counts and its final
 * item size (the old estimate: no index writes, every write at the final item's size).
 */
export function runCostModel(
  throughput: ThroughputResult,
  poll: PollResult,
  dynamo?: DynamoUnitsResult,
): CostResult {
  const jobs = throughput.jobs;
  const pollMessagesPerJob = (throughput.lambda.poller?.records ?? 0) / jobs;
  const statusCallsMeasured = throughput.upstreamCallsPerJob.status ?? pollMessagesPerJob;
  const reference = poll.cases.logNormal.policies.find((p) => p.schedule === 'ours')!;
  const statusCalls = reference.meanStatusCallsPerJob;
  const wru = Math.max(1, Math.ceil(throughput.meanJobItemBytes / 1024));
  const rru = Math.max(1, Math.ceil(throughput.meanJobItemBytes / 4096));

  // Per-heartbeat footprint, as measured: what the poller and its queue cost per poll message.
  const measured = countsFrom(throughput);
  const heartbeat = heartbeatFootprint(throughput, pollMessagesPerJob);
  const extraHeartbeats = Math.max(0, statusCalls - pollMessagesPerJob);

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
    `pipeline (as measured: ${round(pollMessagesPerJob, 2)} status calls per job)`,
    measured,
    0,
    pollMessagesPerJob,
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
  const withMeanDurations = priceDesign(
    'pipeline, mean durations',
    countsFrom(throughput, { statistic: 'mean' }),
    extraHeartbeats,
    heartbeatFootprint(throughput, pollMessagesPerJob, 'mean'),
    { wru, rru, throughput, outputBytes: throughput.meanOutputBytes, measured: unitsAt(statusCalls) },
  );

  // Alternatives: the same job minus the SQS/DynamoDB poll chain, plus their own polling cost.
  const withoutChain = priced('base', countsFrom(throughput, { withoutPollChain: true }), 0, 0);
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
  return {
    pricesAsOf: PRICES_AS_OF,
    prices: Object.fromEntries(
      Object.entries(PRICES).map(([key, price]) => [key, { usdPerUnit: price.usd, source: price.source }]),
    ),
    assumptions: [
      dynamo
        ? `DynamoDB: counted per job through the real store adapters on moto (${dynamo.jobs} jobs, ${dynamo.statusCallsPerJob} status calls each): ${dynamo.wruPerJob} WRU and ${dynamo.rruPerJob} RRU, each write billed at max(item before, after) per started KB, twice in a transaction, plus one WRU per index entry put or deleted; each further heartbeat ${dynamo.wruPerHeartbeat} WRU + ${dynamo.rruPerHeartbeat} RRU. By transition (WRU per job): ${dynamo.writes.map((w) => `${w.name} ${w.wru}${w.indexWru ? ` (indexes ${w.indexWru})` : ''}`).join(', ')}`
        : `DynamoDB: job item ≈ ${throughput.meanJobItemBytes} B, so ${wru} WRU per write (2 per item in a transaction) and ${rru} RRU per strongly consistent read (estimate: no index writes)`,
      `poll chain scaled from ${round(pollMessagesPerJob, 2)} to ${statusCalls} heartbeats per job (poll benchmark, log-normal case); per heartbeat as measured: ${describeHeartbeat(heartbeat)}`,
      'event source mappings: receives that returned messages and deletes as the local driver made them in the burst (batched), and one receive + one delete for each further heartbeat; empty receives are a fixed cost per queue, not per job (Lambda keeps ~5 long polls of 20 s open: ~650 k requests, ~$0.26 a month per queue)',
      "Lambda durations: median handler invocation under light load after the burst (the mean, which carries the emulator's stalls, is shown apart), billed rounded up to 1 ms; arm64",
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
    pipelineSplit: splitByKind(pipeline),
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
  options: { withoutPollChain?: boolean; statistic?: DurationStatistic } = {},
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
    // Invocations as the burst made them; duration per record from the light-load timings.
    const light = throughput.lambdaLightLoad[name] ?? burst;
    const ms = msPerRecord(light, options.statistic ?? 'median');
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
  statistic: DurationStatistic = 'median',
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
  const ms = msPerRecord(throughput.lambdaLightLoad.poller ?? throughput.lambda.poller, statistic);
  return {
    requests,
    // Conservative: one invocation per heartbeat (a quiet queue delivers batches of one).
    lambdaInvocations: 1,
    lambdaGbSeconds: (ms / 1000) * (FUNCTIONS.poller.memoryMb / 1024),
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

/** The design's total, split into its timed line (Lambda GB-s) and the counted rest. */
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
