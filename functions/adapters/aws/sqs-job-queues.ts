import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { BatchMessage } from '#core/batches/messages';
import type { PollQueueMessage, ResultMessage } from '#core/jobs/messages';
import type { JobQueues } from '#core/ports';
import type { WebhookMessage } from '#core/webhooks/webhook-message';

/** The pipeline's own queues on SQS; delays are whole seconds (0–900). */
export class SqsJobQueues implements JobQueues {
  readonly scheduleWebhook?: (message: WebhookMessage, delaySeconds?: number) => Promise<void>;
  readonly scheduleBatch?: (messages: readonly BatchMessage[]) => Promise<void>;

  constructor(
    private readonly sqs: SQSClient,
    private readonly urls: { poll?: string; result?: string; webhook?: string; batch?: string },
  ) {
    const webhook = urls.webhook;
    if (webhook)
      this.scheduleWebhook = (message, delaySeconds = 0) => this.send(webhook, message, delaySeconds);
    const batch = urls.batch;
    if (batch) this.scheduleBatch = (messages) => this.sendAll(batch, messages);
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

  /** Sends in batches of ten (SQS's limit), all at once; any message refused fails the whole call. */
  private async sendAll(queueUrl: string, messages: readonly object[]): Promise<void> {
    const groups: (readonly object[])[] = [];
    for (let index = 0; index < messages.length; index += 10) groups.push(messages.slice(index, index + 10));
    await Promise.all(
      groups.map(async (group) => {
        const { Failed = [] } = await this.sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: group.map((message, index) => ({
              Id: String(index),
              MessageBody: JSON.stringify(message),
            })),
          }),
        );
        if (Failed.length > 0) {
          throw new Error(
            `SQS refused ${Failed.length} of ${group.length} messages: ${Failed[0]?.Code ?? ''}`,
          );
        }
      }),
    );
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
