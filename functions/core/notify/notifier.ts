import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { EVENTS } from '../../../infra/definition.ts';
import { PipelineError } from '../errors.ts';
import type { Job } from '../jobs/job.ts';
import { type JobView, toJobView } from '../jobs/job-view.ts';

/**
 * The completion notification, the same document on SNS and on EventBridge. `event_id` is stable
 * for a job's terminal state, so consumers can drop the duplicates that at-least-once delivery
 * allows.
 */
export interface CompletionEvent {
  event_id: string;
  type: 'edit.job.completed';
  occurred_at: string;
  job: JobView;
}

export function completionEvent(job: Job): CompletionEvent {
  return {
    event_id: `${job.id}:${job.status}`,
    type: 'edit.job.completed',
    occurred_at: job.finishedAt ?? job.updatedAt,
    job: toJobView(job),
  };
}

export class NotificationError extends PipelineError {
  override readonly name: string = 'NotificationError';
  constructor(message: string, cause?: unknown) {
    super('NOTIFICATION_FAILED', message, { status: 502, expose: false, cause });
  }
}

export interface Notifier {
  completed(job: Job): Promise<void>;
}

/** Publishes completion events to the stack's SNS topic and EventBridge bus. */
export class AwsNotifier implements Notifier {
  constructor(
    private readonly sns: SNSClient,
    private readonly events: EventBridgeClient,
    private readonly targets: { topicArn: string; eventBusName: string },
  ) {}

  async completed(job: Job): Promise<void> {
    const event = completionEvent(job);
    const body = JSON.stringify(event);
    await Promise.all([
      this.sns.send(
        new PublishCommand({
          TopicArn: this.targets.topicArn,
          Message: body,
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

  private async putEvent(event: CompletionEvent): Promise<void> {
    const result = await this.events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: this.targets.eventBusName,
            Source: EVENTS.source,
            DetailType: EVENTS.jobCompleted,
            Detail: JSON.stringify(event),
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
