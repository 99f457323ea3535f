import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { PollQueueMessage, ResultMessage } from '#core/jobs/messages';
import type { JobQueues } from '#core/ports';
import type { WebhookMessage } from '#core/webhooks/webhook-message';

/** The pipeline's own queues on SQS; delays are whole seconds (0–900). */
export class SqsJobQueues implements JobQueues {
  readonly scheduleWebhook?: (message: WebhookMessage, delaySeconds?: number) => Promise<void>;

  constructor(
    private readonly sqs: SQSClient,
    private readonly urls: { poll?: string; result?: string; webhook?: string },
  ) {
    const webhook = urls.webhook;
    if (webhook)
      this.scheduleWebhook = (message, delaySeconds = 0) => this.send(webhook, message, delaySeconds);
  }

  schedulePoll(message: PollQueueMessage, delaySeconds: number): Promise<void> {
    return this.send(this.url('poll'), message, delaySeconds);
  }

  scheduleResult(message: ResultMessage, delaySeconds = 0): Promise<void> {
    return this.send(this.url('result'), message, delaySeconds);
  }

  private url(queue: 'poll' | 'result'): string {
    const url = this.urls[queue];
    if (!url) throw new Error(`no ${queue} queue is configured for this function`);
    return url;
  }

  private async send(queueUrl: string, message: object, delaySeconds: number): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: JSON.stringify(message),
        DelaySeconds: Math.min(900, Math.max(0, Math.round(delaySeconds))),
      }),
    );
  }
}
