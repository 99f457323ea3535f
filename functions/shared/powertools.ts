import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRIC, METRIC_IDENTITY } from '#contract/metrics';
import type { MetricSink } from '#core/ports';

/** One logger and one metrics buffer per container; service and namespace come from the environment. */
export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? METRIC_IDENTITY.serviceName,
});

export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRIC_IDENTITY.namespace,
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? METRIC_IDENTITY.serviceName,
});

/** The core's metrics, by catalogued name and with the catalogue's unit. */
export const metricSink: MetricSink = {
  count: (name, value = 1) => metrics.addMetric(name, MetricUnit.Count, value),
  time: (name, milliseconds) =>
    metrics.addMetric(
      name,
      METRIC[name].unit === 'Milliseconds' ? MetricUnit.Milliseconds : MetricUnit.Count,
      milliseconds,
    ),
};

/** Flushes the invocation's metrics; a silent no-op when there were none (Powertools would warn). */
export function publishMetrics(): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}
