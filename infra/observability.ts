import { Duration } from 'aws-cdk-lib';
import type { HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  Metric,
  TextWidget,
  TreatMissingData,
  Unit,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { Rule } from 'aws-cdk-lib/aws-events';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import {
  FUNCTIONS,
  type FunctionName,
  METRIC,
  type MetricName,
  QUEUES,
  type QueueName,
} from '../contract/index.ts';
import { pascal } from './names.ts';
import type { ResolvedProps } from './resolve-props.ts';

/** Alarms and the dashboard of the pipeline: what an operator watches, built from its parts. */

const FIVE_MINUTES = Duration.minutes(5);

/** The alarms the pipeline raises, by what they watch. */
export interface FluxEditPipelineAlarms {
  /** Any message in a DLQ: a job message failed `maxReceiveCount` deliveries. */
  readonly deadLetterQueues: Record<QueueName, Alarm>;
  /** Any invocation error of a function. */
  readonly functionErrors: Record<FunctionName, Alarm>;
  /** The poll queue's oldest message is older than the threshold: polling is falling behind. */
  readonly pollQueueAge: Alarm;
  /** A finished (paid) run has waited too long in the result queue: collection is falling behind. */
  readonly resultQueueAge: Alarm;
  /** Jobs ending `failed` (the core's `JobsFailed` metric). */
  readonly jobsFailed: Alarm;
  /** Webhook deliveries given up (retry window over, or a refused URL). */
  readonly webhooksFailed: Alarm;
  /** The sweeper's schedule could not invoke it (e.g. a lost permission): the safety net is down. */
  readonly sweeperScheduleFailed: Alarm;
}

/** The parts of the pipeline that alarms and the dashboard watch. */
export interface ObservedParts {
  readonly functions: Record<FunctionName, LambdaFunction>;
  readonly queues: Record<QueueName, Queue>;
  readonly deadLetterQueues: Record<QueueName, Queue>;
  readonly apiStage: HttpStage;
  readonly sweeperSchedule: Rule;
  readonly jobsFailedMetric: Metric;
}

/** The alarms, with `alarmTopic` (if any) told when each goes off and back to OK. */
export function createAlarms(
  scope: Construct,
  parts: ObservedParts,
  config: ResolvedProps,
  alarmTopic: ITopic | undefined,
): FluxEditPipelineAlarms {
  const action = alarmTopic ? new SnsAction(alarmTopic) : undefined;
  const alarm = (id: string, metric: IMetric, threshold: number, description: string) => {
    const created = new Alarm(scope, id, {
      metric,
      threshold,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
    if (action) {
      created.addAlarmAction(action);
      created.addOkAction(action);
    }
    return created;
  };

  const deadLetterQueues = {} as Record<QueueName, Alarm>;
  for (const name of Object.keys(QUEUES) as QueueName[]) {
    deadLetterQueues[name] = alarm(
      `${pascal(name)}DeadLetterQueueAlarm`,
      parts.deadLetterQueues[name].metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      1,
      `Messages in the ${name} DLQ: jobs stopped moving after ${QUEUES[name].maxReceiveCount} deliveries. Inspect, fix, then redrive.`,
    );
  }
  const functionErrors = {} as Record<FunctionName, Alarm>;
  for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
    functionErrors[name] = alarm(
      `${pascal(name)}FunctionErrorsAlarm`,
      parts.functions[name].metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
      1,
      `The ${name} function failed (threw or timed out); see its log group.`,
    );
  }
  const pollQueueAge = alarm(
    'PollQueueAgeAlarm',
    parts.queues.poll.metricApproximateAgeOfOldestMessage({
      period: Duration.minutes(1),
      statistic: 'Maximum',
    }),
    config.pollQueueAgeAlarmSeconds,
    'The poll queue is backing up: the poller is failing, throttled or short of concurrency.',
  );
  const resultQueueAge = alarm(
    'ResultQueueAgeAlarm',
    parts.queues.result.metricApproximateAgeOfOldestMessage({
      period: Duration.minutes(1),
      statistic: 'Maximum',
    }),
    config.resultQueueAgeAlarmSeconds,
    'Finished (paid) runs are waiting to be collected: the result function is failing, throttled or short of concurrency. Nothing is lost: no deadline applies once RunComfy has finished.',
  );
  const jobsFailed = alarm(
    'JobsFailedAlarm',
    parts.jobsFailedMetric,
    config.failedJobsAlarmThreshold,
    'Edit jobs ended failed (RunComfy error, deadline, or output copy failure).',
  );
  const webhooksFailed = alarm(
    'WebhooksFailedAlarm',
    coreMetric(config, 'WebhooksFailed'),
    1,
    'Webhook deliveries were given up: a receiver refused or stayed unreachable for the whole retry window.',
  );
  const sweeperScheduleFailed = alarm(
    'SweeperScheduleFailedAlarm',
    new Metric({
      namespace: 'AWS/Events',
      metricName: 'FailedInvocations',
      dimensionsMap: { RuleName: parts.sweeperSchedule.ruleName },
      period: FIVE_MINUTES,
      statistic: 'Sum',
    }),
    1,
    'EventBridge could not invoke the sweeper: stopped jobs, stalled collections and unsent notifications are not being looked after.',
  );
  return {
    deadLetterQueues,
    functionErrors,
    pollQueueAge,
    resultQueueAge,
    jobsFailed,
    webhooksFailed,
    sweeperScheduleFailed,
  };
}

/** One dashboard: jobs, collection, notifications, the API, the functions and the queues. */
export function createDashboard(scope: Construct, parts: ObservedParts, config: ResolvedProps): Dashboard {
  const names = Object.keys(FUNCTIONS) as FunctionName[];
  const queueNames = Object.keys(QUEUES) as QueueName[];
  const perFunction = (metric: (fn: LambdaFunction) => IMetric) =>
    names.map((name) => metric(parts.functions[name]));
  const core = (metricName: MetricName) => coreMetric(config, metricName).with({ label: metricName });
  const dashboard = new Dashboard(scope, 'Dashboard', { defaultInterval: Duration.hours(3) });
  dashboard.addWidgets(
    new TextWidget({ markdown: '# FLUX edit pipeline', width: 24, height: 1 }),
    new GraphWidget({
      title: 'Jobs',
      left: [core('JobsAccepted'), core('JobsSucceeded'), core('JobsFailed'), core('JobsSwept')],
      width: 12,
    }),
    new GraphWidget({
      title: 'Collection of finished runs',
      left: [core('ResultsCollected'), core('ResultAttemptsFailed'), core('OrphanOutputsDeleted')],
      right: [
        coreMetric(config, 'ResultCollectionLatency').with({
          statistic: 'p95',
          label: 'upstream finished → job ended (p95)',
        }),
      ],
      width: 12,
    }),
    new GraphWidget({
      title: 'Notifications',
      left: [
        core('WebhooksDelivered'),
        core('WebhookAttemptsFailed'),
        core('WebhooksFailed'),
        core('WebhooksResent'),
        core('LifecycleEventsFailed'),
      ],
      width: 12,
    }),
    new GraphWidget({
      title: 'API requests and errors',
      left: [
        parts.apiStage.metricCount(),
        parts.apiStage.metricClientError(),
        parts.apiStage.metricServerError(),
      ],
      right: [parts.apiStage.metricLatency({ statistic: 'p99' })],
      width: 12,
    }),
    new GraphWidget({
      title: 'Function errors and throttles',
      left: [...perFunction((fn) => fn.metricErrors()), ...perFunction((fn) => fn.metricThrottles())],
      width: 12,
    }),
    new GraphWidget({
      title: 'Function duration p99',
      left: perFunction((fn) => fn.metricDuration({ statistic: 'p99' })),
      width: 12,
    }),
    new GraphWidget({
      title: 'Queues: visible messages and oldest age',
      left: queueNames.map((name) => parts.queues[name].metricApproximateNumberOfMessagesVisible()),
      right: queueNames.map((name) => parts.queues[name].metricApproximateAgeOfOldestMessage()),
      width: 12,
    }),
    new GraphWidget({
      title: 'Dead-letter queues',
      left: queueNames.map((name) =>
        parts.deadLetterQueues[name].metricApproximateNumberOfMessagesVisible({ label: `${name} DLQ` }),
      ),
      width: 12,
    }),
  );
  return dashboard;
}

/**
 * A metric the core emits through Powertools Metrics (the shared `service` dimension only),
 * from the contract's catalogue: counts summed, durations averaged, over five minutes.
 */
export function coreMetric(config: ResolvedProps, metricName: MetricName): Metric {
  const timing = METRIC[metricName].unit === 'Milliseconds';
  return new Metric({
    namespace: config.metricsNamespace,
    metricName,
    dimensionsMap: { service: config.serviceName },
    statistic: timing ? 'Average' : 'Sum',
    period: FIVE_MINUTES,
    unit: timing ? Unit.MILLISECONDS : Unit.COUNT,
  });
}
