import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { EVENTS } from '#contract/events';
import { PipelineError } from '#core/errors';
import type { Job } from '#core/jobs/job';
import type { BatchCompletedEvent } from '#core/notify/batch-events';
import { completionEvent, EVENT_DETAIL_TYPES } from '#core/notify/event-builders';
import type { JobEvent, LifecycleEvent } from '#core/notify/events';
import type { BatchNotifier, Notifier } from '#core/ports';
import { createEventBridgeClient, createSnsClient } from './notify-clients.ts';

export class NotificationError extends PipelineError {
  override readonly name: string = 'NotificationError';
  constructor(message: string, cause?: unknown) {
    super('NOTIFICATION_FAILED', message, { status: 502, expose: false, cause });
  }
}

/** Publishes the pipeline's events to the stack's SNS topic (completions) and EventBridge bus (all). */
export class AwsNotifier implements Notifier, BatchNotifier {
  constructor(
    private readonly sns: SNSClient,
    private readonly events: EventBridgeClient,
    private readonly targets: { topicArn: string; eventBusName: string },
  ) {}

  async completed(job: Job): Promise<void> {
    const event = completionEvent(job);
    await Promise.all([
      this.sns.send(
        new PublishCommand({
          TopicArn: this.targets.topicArn,
          Message: JSON.stringify(event),
          Subject: `Edit job ${job.status}`,
          // Attributes let subscribers filter (e.g. only failures) without parsing the body.
          MessageAttributes: {
            status: { DataType: 'String', StringValue: job.status },
            job_id: { DataType: 'String', StringValue: job.id },
            event_id: { DataType: 'String', StringValue: event.event_id },
            ...(job.callerReference
              ? { caller_reference: { DataType: 'String', StringValue: job.callerReference } }
              : {}),
          },
        }),
      ),
      this.putEvent(event),
    ]);
  }

  announce(event: LifecycleEvent): Promise<void> {
    return this.putEvent(event);
  }

  async batchCompleted(event: BatchCompletedEvent): Promise<void> {
    await Promise.all([
      this.sns.send(
        new PublishCommand({
          TopicArn: this.targets.topicArn,
          Message: JSON.stringify(event),
          Subject: 'Edit batch completed',
          // `event_type` and `batch_id` let a subscription take (or leave) batch completions alone.
          MessageAttributes: {
            status: { DataType: 'String', StringValue: event.status },
            event_type: { DataType: 'String', StringValue: event.type },
            batch_id: { DataType: 'String', StringValue: event.batch_id },
            event_id: { DataType: 'String', StringValue: event.event_id },
          },
        }),
      ),
      this.putEvent(event),
    ]);
  }

  private async putEvent(event: JobEvent): Promise<void> {
    const result = await this.events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: this.targets.eventBusName,
            Source: EVENTS.source,
            DetailType: EVENT_DETAIL_TYPES[event.type],
            Detail: JSON.stringify(event),
            Time: new Date(event.occurred_at),
          },
        ],
      }),
    );
    // PutEvents reports per-entry failures with a 200: treat them as the failure they are.
    if (result.FailedEntryCount) {
      const entry = result.Entries?.[0];
      throw new NotificationError(
        `EventBridge refused the event: ${entry?.ErrorCode ?? 'unknown'} ${entry?.ErrorMessage ?? ''}`,
      );
    }
  }
}

/** The notifier with its own SNS and EventBridge clients (bounded like every client). */
export function createAwsNotifier(targets: { topicArn: string; eventBusName: string }): AwsNotifier {
  return new AwsNotifier(createSnsClient(), createEventBridgeClient(), targets);
}
