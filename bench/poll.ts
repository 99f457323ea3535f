import { loadConfig } from '#contract/config';
import {
  FIRST_POLL_DELAY_SECONDS,
  firstPollDelaySeconds,
  nextPollDelaySeconds,
} from '#core/jobs/poll-schedule';
import { type GoalFigure, goal } from './lib/goals.ts';
import { logNormalFromPercentiles, SeededRandom } from './lib/random.ts';
import { mean, percentile, round, spread } from './lib/stats.ts';
import { type ScatterSeries, scatterChart } from './lib/svg.ts';

/*
 * Poll schedule benchmark: a discrete-event simulation of many jobs, each polled by the REAL
 * `nextPollDelaySeconds` (imported, not copied) and by fixed-interval pollers, on the published
 * FLUX.2 [flash] edit latency (log-normal, p50 8.1 s, p95 36 s) and on a queue burst.
 *
 * Model, stated so the figures can be judged:
 * - t = 0 is the upstream submission; the first status call is FIRST_POLL_DELAY_SECONDS later
 *   (the submit path sends the first poll message with `firstPollDelaySeconds`), a fixed-interval
 *   poller's first call is one interval later;
 * - each later call is the schedule's delay after the previous one: whole seconds, as SQS
 *   delays are; SQS delivery and Lambda run time are taken as zero. Our schedule aims each delay
 *   at a planned time counted from the submission, so in the real pipeline that time shifts each
 *   call by at most itself plus half a second of rounding, instead of adding up call after call
 *   (the end-to-end latency case measures it);
 * - a call at or after the upstream completion sees `finished`, and the job is handed to the
 *   result handler at once: added delay = that call's time - completion time;
 * - queued jobs report `queue_position` = queued jobs ahead (0-based, as the simulator does).
 */

export const REFERENCE_LATENCY = { p50Seconds: 8.1, p95Seconds: 36 } as const;
export const FIXED_INTERVALS_SECONDS = [1, 2, 3, 5, 10] as const;
export const OURS = 'ours';

const MEAN_ADDED_DELAY_GOAL_SECONDS = 1.5;

export interface PollBenchOptions {
  /** Jobs per case. @default 20_000 */
  jobs?: number;
  seed?: number;
  /** Jobs submitted at once in the burst case. @default 50 */
  burstSize?: number;
  /** Upstream runners serving a burst. @default 5 */
  workers?: number;
}

interface SimulatedJob {
  /** Upstream run start (end of queueing), seconds after submission. */
  startSeconds: number;
  endSeconds: number;
  /** Queued jobs ahead of this one at time t (only called while t < startSeconds). */
  queuePositionAt?: (t: number) => number;
}

interface PollPolicy {
  name: string;
  firstDelaySeconds: number;
  next(elapsedSeconds: number, queuePosition: number | undefined): number;
}

export interface PolicyFigures {
  schedule: string;
  meanStatusCallsPerJob: number;
  meanAddedDelaySeconds: number;
  p50AddedDelaySeconds: number;
  p95AddedDelaySeconds: number;
  maxAddedDelaySeconds: number;
  expiredJobs: number;
}

export interface PollCaseResult {
  description: string;
  jobs: number;
  meanUpstreamSeconds: number;
  p95UpstreamSeconds: number;
  policies: PolicyFigures[];
  /** Fixed intervals at least as good on both calls and p95 delay, and strictly better on one. */
  dominatedBy: string[];
  paretoDominant: boolean;
  meanAddedDelayGoalMet: boolean;
}

export interface PollResult {
  seed: number;
  jobsPerCase: number;
  firstPollDelaySeconds: number;
  jobDeadlineSeconds: number;
  maxPollDelaySeconds: number;
  latencyModel: { p50Seconds: number; p95Seconds: number; mu: number; sigma: number };
  burst: { jobsPerBurst: number; workers: number };
  meanAddedDelayGoalSeconds: number;
  cases: { logNormal: PollCaseResult; queueBurst: PollCaseResult };
  /** Our schedule on the burst with other upstream worker counts (RunComfy's is unknown). */
  burstWorkersSensitivity: {
    workers: number;
    meanStatusCallsPerJob: number;
    meanAddedDelaySeconds: number;
    p95AddedDelaySeconds: number;
    goalMet: boolean;
  }[];
  goalMet: boolean;
  /** Our schedule's figures with other seeds (the first is `seed`): the spread of the simulation. */
  seedRuns?: { seed: number; logNormal: PolicyFigures; queueBurst: PolicyFigures }[];
}

/** The poll case of the bench: the simulation with `seeds` seeds, the first one reported in full. */
export function runPollCase(seeds: readonly number[] = [20_240_905, 1, 2]): PollResult {
  const runs = seeds.map((seed) => runPollBenchmark({ seed }));
  const ours = (c: PollCaseResult) => c.policies.find((p) => p.schedule === OURS)!;
  return {
    ...runs[0]!,
    seedRuns: runs.map((run) => ({
      seed: run.seed,
      logNormal: ours(run.cases.logNormal),
      queueBurst: ours(run.cases.queueBurst),
    })),
  };
}

export function pollGoals(poll: PollResult): GoalFigure[] {
  const runs = poll.seedRuns ?? [];
  return (['logNormal', 'queueBurst'] as const).flatMap((key) => {
    const label = key === 'logNormal' ? 'log-normal' : 'queue burst';
    return [
      goal({
        id: `poll.${key}.mean-added-delay`,
        label: `poll (${label}): mean added delay`,
        unit: 's',
        figure: spread(runs.map((run) => run[key].meanAddedDelaySeconds)),
        goal: { op: '<=', value: poll.meanAddedDelayGoalSeconds },
        baseline: `absolute; ${poll.jobsPerCase.toLocaleString('en-US')} simulated jobs per seed`,
      }),
      goal({
        id: `poll.${key}.dominating-fixed-intervals`,
        label: `poll (${label}): fixed intervals better on calls and p95 delay`,
        unit: '',
        figure: spread([poll.cases[key].dominatedBy.length]),
        goal: { op: '==', value: 0 },
        baseline: `fixed ${FIXED_INTERVALS_SECONDS.join('/')} s pollers on the same jobs`,
      }),
    ];
  });
}

/**
 * What the simulation predicts as the poll wait of one job (no queue): the time from the run's
 * end to the first status call at or after it, the calls counted from the upstream submission.
 */
export function predictedPollWaitSeconds(runSeconds: number): number {
  const config = loadConfig(DUMMY_ENV);
  const policy = oursPolicy(config.jobDeadlineSeconds, config.maxPollDelaySeconds);
  let t = policy.firstDelaySeconds;
  while (t < runSeconds) t += policy.next(t, undefined);
  return t - runSeconds;
}

export function runPollBenchmark(options: PollBenchOptions = {}): PollResult {
  const jobs = options.jobs ?? 20_000;
  const seed = options.seed ?? 20_240_905;
  const burstSize = options.burstSize ?? 50;
  const workers = options.workers ?? 5;
  const { mu, sigma } = logNormalFromPercentiles(REFERENCE_LATENCY.p50Seconds, REFERENCE_LATENCY.p95Seconds);
  // The deployed defaults, read through the real config so the simulation follows them.
  const config = loadConfig(DUMMY_ENV);
  const policies = [
    oursPolicy(config.jobDeadlineSeconds, config.maxPollDelaySeconds),
    ...FIXED_INTERVALS_SECONDS.map(fixedPolicy),
  ];

  const random = new SeededRandom(seed);
  const logNormalJobs: SimulatedJob[] = Array.from({ length: jobs }, () => {
    const run = random.logNormal(mu, sigma);
    return { startSeconds: 0, endSeconds: run };
  });
  const burstJobs: SimulatedJob[] = [];
  while (burstJobs.length < jobs) {
    burstJobs.push(
      ...simulateBurst(random, Math.min(burstSize, jobs - burstJobs.length), workers, mu, sigma),
    );
  }

  const deadline = config.jobDeadlineSeconds;
  const logNormal = evaluateCase(
    `log-normal run time (p50 ${REFERENCE_LATENCY.p50Seconds} s, p95 ${REFERENCE_LATENCY.p95Seconds} s), no queue`,
    logNormalJobs,
    policies,
    deadline,
  );
  const queueBurst = evaluateCase(
    `bursts of ${burstSize} jobs submitted at once to ${workers} upstream workers (FIFO, same run times, queue_position reported)`,
    burstJobs,
    policies,
    deadline,
  );
  const burstWorkersSensitivity = [1, 2, 5, 10, 25].map((count) => {
    const sample = new SeededRandom(seed + count);
    const burst: SimulatedJob[] = [];
    while (burst.length < jobs) {
      burst.push(...simulateBurst(sample, Math.min(burstSize, jobs - burst.length), count, mu, sigma));
    }
    const result = evaluateCase(`${count} workers`, burst, policies, deadline);
    const ours = result.policies.find((f) => f.schedule === OURS)!;
    return {
      workers: count,
      meanStatusCallsPerJob: ours.meanStatusCallsPerJob,
      meanAddedDelaySeconds: ours.meanAddedDelaySeconds,
      p95AddedDelaySeconds: ours.p95AddedDelaySeconds,
      goalMet: result.paretoDominant && result.meanAddedDelayGoalMet,
    };
  });
  return {
    seed,
    jobsPerCase: jobs,
    firstPollDelaySeconds: FIRST_POLL_DELAY_SECONDS,
    jobDeadlineSeconds: config.jobDeadlineSeconds,
    maxPollDelaySeconds: config.maxPollDelaySeconds,
    latencyModel: { ...REFERENCE_LATENCY, mu: round(mu, 4), sigma: round(sigma, 4) },
    burst: { jobsPerBurst: burstSize, workers },
    meanAddedDelayGoalSeconds: MEAN_ADDED_DELAY_GOAL_SECONDS,
    cases: { logNormal, queueBurst },
    burstWorkersSensitivity,
    goalMet:
      logNormal.paretoDominant &&
      logNormal.meanAddedDelayGoalMet &&
      queueBurst.paretoDominant &&
      queueBurst.meanAddedDelayGoalMet,
  };
}

/** The minimal environment `loadConfig` accepts; only its defaults are used here. */
const DUMMY_ENV = {
  JOBS_TABLE: 'bench',
  POLL_QUEUE_URL: 'https://sqs.invalid/poll',
  RESULT_QUEUE_URL: 'https://sqs.invalid/result',
  OUTPUT_BUCKET: 'bench',
  TOPIC_ARN: 'arn:aws:sns:us-east-1:000000000000:bench',
  EVENT_BUS_NAME: 'bench',
  RUNCOMFY_API_TOKEN: 'bench',
};

/**
 * The schedule as the code runs it: the delay the submission gives the first heartbeat, then each
 * heartbeat's. With no work between a look and its next delay (none is modelled), every look lands
 * on its planned time; the end-to-end latency case measures how far real looks land from them.
 */
function oursPolicy(deadlineSeconds: number, maxDelaySeconds: number): PollPolicy {
  return {
    name: OURS,
    firstDelaySeconds: firstPollDelaySeconds(0),
    next: (elapsedSeconds, queuePosition) =>
      nextPollDelaySeconds({
        elapsedSeconds,
        queuePosition,
        secondsToDeadline: deadlineSeconds - elapsedSeconds,
        maxDelaySeconds,
      }),
  };
}

function fixedPolicy(intervalSeconds: number): PollPolicy {
  return {
    name: `fixed ${intervalSeconds} s`,
    firstDelaySeconds: intervalSeconds,
    next: () => intervalSeconds,
  };
}

/** One burst: all jobs submitted at t = 0 into a FIFO served by `workers` runners. */
function simulateBurst(
  random: SeededRandom,
  size: number,
  workers: number,
  mu: number,
  sigma: number,
): SimulatedJob[] {
  const freeAt = Array.from({ length: workers }, () => 0);
  const starts: number[] = [];
  const jobs: SimulatedJob[] = [];
  for (let index = 0; index < size; index++) {
    let worker = 0;
    for (let w = 1; w < workers; w++) if (freeAt[w]! < freeAt[worker]!) worker = w;
    const start = freeAt[worker]!;
    const end = start + random.logNormal(mu, sigma);
    freeAt[worker] = end;
    starts.push(start);
    jobs.push({
      startSeconds: start,
      endSeconds: end,
      // FIFO: starts never decrease, so the queued jobs ahead at t are those before this one not started yet.
      queuePositionAt: (t) => starts.slice(0, index).filter((s) => s > t).length,
    });
  }
  return jobs;
}

function evaluateCase(
  description: string,
  jobs: SimulatedJob[],
  policies: PollPolicy[],
  deadlineSeconds: number,
): PollCaseResult {
  const figures = policies.map((policy) => evaluatePolicy(policy, jobs, deadlineSeconds));
  const ours = figures.find((f) => f.schedule === OURS)!;
  const dominatedBy = figures
    .filter((f) => f.schedule !== OURS)
    .filter(
      (f) =>
        f.meanStatusCallsPerJob <= ours.meanStatusCallsPerJob &&
        f.p95AddedDelaySeconds <= ours.p95AddedDelaySeconds &&
        (f.meanStatusCallsPerJob < ours.meanStatusCallsPerJob ||
          f.p95AddedDelaySeconds < ours.p95AddedDelaySeconds),
    )
    .map((f) => f.schedule);
  return {
    description,
    jobs: jobs.length,
    meanUpstreamSeconds: round(mean(jobs.map((job) => job.endSeconds)), 2),
    p95UpstreamSeconds: round(
      percentile(
        jobs.map((job) => job.endSeconds),
        95,
      ),
      2,
    ),
    policies: figures,
    dominatedBy,
    paretoDominant: dominatedBy.length === 0,
    meanAddedDelayGoalMet: ours.meanAddedDelaySeconds <= MEAN_ADDED_DELAY_GOAL_SECONDS,
  };
}

function evaluatePolicy(policy: PollPolicy, jobs: SimulatedJob[], deadlineSeconds: number): PolicyFigures {
  const calls: number[] = [];
  const delays: number[] = [];
  let expired = 0;
  for (const job of jobs) {
    let t = policy.firstDelaySeconds;
    let count = 0;
    for (;;) {
      if (t >= deadlineSeconds) {
        expired++;
        break;
      }
      count++;
      if (t >= job.endSeconds) {
        delays.push(t - job.endSeconds);
        break;
      }
      const position = t < job.startSeconds ? job.queuePositionAt?.(t) : undefined;
      t += policy.next(t, position);
    }
    calls.push(count);
  }
  return {
    schedule: policy.name,
    meanStatusCallsPerJob: round(mean(calls), 2),
    meanAddedDelaySeconds: round(mean(delays), 3),
    p50AddedDelaySeconds: round(percentile(delays, 50), 3),
    p95AddedDelaySeconds: round(percentile(delays, 95), 3),
    maxAddedDelaySeconds: round(Math.max(...delays), 3),
    expiredJobs: expired,
  };
}

/** The calls-vs-p95-delay scatter, one panel per case. */
export function pollCharts(result: PollResult): Record<string, string> {
  const chart = (key: keyof PollResult['cases'], title: string) => {
    const figures = result.cases[key].policies;
    const series: ScatterSeries[] = [
      {
        name: 'fixed intervals',
        color: '#8a8f98',
        points: figures
          .filter((f) => f.schedule !== OURS)
          .map((f) => ({ x: f.meanStatusCallsPerJob, y: f.p95AddedDelaySeconds, label: f.schedule })),
      },
      {
        name: 'our schedule',
        color: '#d9480f',
        labels: 'below',
        points: figures
          .filter((f) => f.schedule === OURS)
          .map((f) => ({ x: f.meanStatusCallsPerJob, y: f.p95AddedDelaySeconds, label: OURS })),
      },
    ];
    return scatterChart({
      title,
      xLabel: 'mean status calls per job',
      yLabel: 'p95 added delay (s)',
      series,
    });
  };
  return {
    'poll-lognormal.svg': chart('logNormal', 'Poll schedule: log-normal run times (lower left is better)'),
    'poll-burst.svg': chart('queueBurst', 'Poll schedule: queue burst (lower left is better)'),
  };
}
