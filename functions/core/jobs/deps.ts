import type { Config } from '#contract/config';
import type { S3InputPolicy } from '../inputs/s3-inputs.ts';
import type {
  AdmissionStore,
  BatchStore,
  Clock,
  JobQueues,
  JobStore,
  Log,
  MetricSink,
  Notifier,
  OutputStore,
  RunComfy,
} from '../ports.ts';
import type { WriteContext } from './lifecycle.ts';

export type { MetricSink } from '../ports.ts';
export { noMetrics } from '../ports.ts';

/** The settings the job core decides with. */
export type JobSettings = Pick<
  Config,
  | 'jobDeadlineSeconds'
  | 'maxPollDelaySeconds'
  | 'allowLoopbackHttp'
  | 'sweepGraceSeconds'
  | 'resultRetryWindowSeconds'
> &
  Partial<Pick<Config, 'upstreamConcurrency' | 'dailySpendCapUsd' | 'runOvertimeSeconds'>>;

/** Everything the job core needs, injected: the handlers, the local runtime and the tests build it. */
export interface JobDeps {
  config: JobSettings;
  clock: Clock;
  log: Log;
  metrics: MetricSink;
  store: JobStore;
  queues: JobQueues;
  runComfy: RunComfy;
  notifier: Notifier;
  /** `s3://` inputs: where they may come from, and how they become URLs RunComfy can fetch. */
  inputs: { policy: S3InputPolicy; resolve(imageUrls: readonly string[]): Promise<string[]> };
  /** The bucket's outputs: the result stage copies into it, finishers clean up after a failed run. */
  outputs?: OutputStore;
  /** Admission control (a bound on jobs in flight at RunComfy); absent: every job is submitted at once. */
  admission?: AdmissionStore;
  /** Batches: a batch job that ends is counted in its batch; absent: no job belongs to a batch. */
  batches?: BatchStore;
}

/** The clock and timing settings a lifecycle write is decided with, now. */
export function writeContext(deps: Pick<JobDeps, 'clock' | 'config'>): WriteContext {
  return { nowMs: deps.clock.now(), graceMs: deps.config.sweepGraceSeconds * 1000 };
}
