import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { S3InputPolicy } from '../inputs/s3-inputs.ts';
import type { Log } from '../log.ts';
import type { Notifier } from '../notify/notifier.ts';
import type { RunComfyClient } from '../runcomfy/index.ts';
import type { WebhookQueue } from '../webhooks/webhook-queue.ts';
import type { JobQueues } from './job-queues.ts';
import type { JobStore } from './job-store.ts';

/** Counters the core reports; Powertools Metrics backs it in Lambda. */
export interface MetricSink {
  count(name: string, value?: number): void;
}

export const noMetrics: MetricSink = { count() {} };

/** Everything the job core needs, injected: the handlers and the local runtime build it. */
export interface JobDeps {
  config: Pick<Config, 'jobDeadlineSeconds' | 'maxPollDelaySeconds' | 'allowLoopbackHttp'>;
  clock: Clock;
  log: Log;
  metrics: MetricSink;
  store: JobStore;
  queues: JobQueues;
  runComfy: Pick<RunComfyClient, 'submit' | 'status' | 'result' | 'cancel'>;
  notifier: Notifier;
  /** Queues completion webhooks; absent where webhooks are off (no `WEBHOOK_QUEUE_URL`). */
  webhooks?: WebhookQueue;
  /** `s3://` inputs: where they may come from, and how they become URLs RunComfy can fetch. */
  inputs: { policy: S3InputPolicy; resolve(imageUrls: readonly string[]): Promise<string[]> };
}
