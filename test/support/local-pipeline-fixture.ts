import { afterAll, beforeAll } from 'vitest';
import { type LocalPipeline, type LocalPipelineOptions, startLocalPipeline } from '../../local/pipeline.ts';
import type { SimulatorAdmin } from '../../simulator/index.ts';
import { NotificationLog } from './pipeline-helpers.ts';

export interface PipelineFixture {
  readonly pipeline: LocalPipeline;
  readonly notifications: NotificationLog;
  /** The RunComfy simulator's admin API (fault injection, scripted transitions, stats). */
  readonly sim: SimulatorAdmin;
}

/**
 * Starts one local pipeline for the test file (moto + simulator + the real handlers) and stops it
 * after. Failed SQS messages come back after 1 s rather than the queue's visibility timeout,
 * and the functions log errors only.
 */
export function useLocalPipeline(options: LocalPipelineOptions & { stackName: string }): PipelineFixture {
  let pipeline: LocalPipeline | undefined;
  let notifications: NotificationLog | undefined;

  beforeAll(async () => {
    pipeline = await startLocalPipeline({
      retryDelaySeconds: 1,
      waitTimeSeconds: 1,
      ...options,
      extraEnv: { POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_METRICS_DISABLED: 'true', ...options.extraEnv },
    });
    notifications = new NotificationLog(pipeline);
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  const started = <T>(value: T | undefined): T => {
    if (value === undefined)
      throw new Error('the local pipeline has not started (use the fixture inside tests)');
    return value;
  };
  return {
    get pipeline() {
      return started(pipeline);
    },
    get notifications() {
      return started(notifications);
    },
    get sim() {
      return started(pipeline?.simulator).admin;
    },
  };
}
