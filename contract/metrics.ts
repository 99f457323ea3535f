/**
 * Every metric the functions emit, as a typed catalogue: emit sites name a key of `METRIC`
 * (`metrics.count('JobsFailed')` only compiles for a catalogued name) and the construct builds its
 * alarms and dashboard from the same keys, so renaming a metric cannot silently break its alarm.
 *
 * One service name for all functions keeps each metric on a single `service` dimension, so the
 * construct finds it without knowing which function emitted it.
 */
export const METRIC_IDENTITY = {
  serviceName: 'flux-edit-pipeline',
  namespace: 'FluxEditPipeline',
} as const;

export type MetricUnit = 'Count' | 'Milliseconds';

export interface MetricDefinition {
  unit: MetricUnit;
  description: string;
}

export const METRIC = {
  JobsAccepted: { unit: 'Count', description: 'Edit requests accepted and recorded' },
  JobsRejected: { unit: 'Count', description: 'Event-driven requests that failed validation' },
  JobsSucceeded: { unit: 'Count', description: 'Jobs that ended succeeded' },
  JobsFailed: { unit: 'Count', description: 'Jobs that ended failed, cancelled or expired' },
  JobsSwept: { unit: 'Count', description: 'Jobs the sweeper acted on (stopped chains, stalled hand-overs)' },
  UpstreamSubmitted: { unit: 'Count', description: 'Submissions RunComfy accepted' },
  UpstreamSubmitErrors: { unit: 'Count', description: 'Submissions RunComfy refused or did not answer' },
  UpstreamPollErrors: { unit: 'Count', description: 'Status checks that failed (retried)' },
  UpstreamUnknownShape: {
    unit: 'Count',
    description: 'Answers from RunComfy in a shape the client did not know',
  },
  ResultsCollected: { unit: 'Count', description: 'Finished runs whose outputs reached the bucket' },
  ResultAttemptsFailed: { unit: 'Count', description: 'Result collections that failed for now (retried)' },
  /** Time from RunComfy finishing a run to the job ending: our own share of the latency. */
  ResultCollectionLatency: { unit: 'Milliseconds', description: 'Upstream finished → job ended' },
  RunComfySpendUSD: {
    unit: 'Count',
    description: 'USD RunComfy charged for collected runs (a sum, not a count)',
  },
  OrphanOutputsDeleted: { unit: 'Count', description: 'Outputs deleted because their job did not succeed' },
  LifecycleEventsFailed: { unit: 'Count', description: 'Best-effort lifecycle events EventBridge refused' },
  WebhooksDelivered: { unit: 'Count', description: 'Webhook deliveries a receiver acknowledged' },
  WebhookAttemptsFailed: { unit: 'Count', description: 'Webhook attempts that failed (retried)' },
  WebhooksFailed: { unit: 'Count', description: 'Webhook deliveries given up (window over or refused URL)' },
  WebhooksResent: { unit: 'Count', description: 'Webhook resends requested through the API' },
} as const satisfies Record<string, MetricDefinition>;

export type MetricName = keyof typeof METRIC;
