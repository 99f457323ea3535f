import type { Log, MetricSink, Notifier } from '../ports.ts';
import type { LifecycleEvent } from './events.ts';

export { completionEvent } from './event-builders.ts';
export type { CompletionEvent, LifecycleEvent } from './events.ts';

/**
 * Publishes a lifecycle event without ever failing the job's work: progress events are a
 * convenience, and a job must not be retried (or, worse, resubmitted) because one was refused.
 * A failure (to build or to put it) is logged and counted (`LifecycleEventsFailed`) instead.
 *
 * @example
 * await announceBestEffort(deps, job.id, () => submittedEvent(job));
 */
export async function announceBestEffort(
  deps: { notifier: Notifier; log: Log; metrics: MetricSink },
  jobId: string,
  build: () => LifecycleEvent,
): Promise<void> {
  try {
    await deps.notifier.announce(build());
  } catch (error) {
    deps.log.warn('lifecycle event not published', { jobId, error });
    deps.metrics.count('LifecycleEventsFailed');
  }
}
