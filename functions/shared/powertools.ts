import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricSink } from '#core/jobs/deps';

/** One logger and one metrics buffer per container; service and namespace come from the environment. */
export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'flux-edit-pipeline',
});

export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'FluxEditPipeline',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'flux-edit-pipeline',
});

export const metricSink: MetricSink = {
  count: (name, value = 1) => metrics.addMetric(name, MetricUnit.Count, value),
};

/** Flushes the invocation's metrics; a silent no-op when there were none (Powertools would warn). */
export function publishMetrics(): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}
