import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { PollMessage, ResultMessage } from './messages.ts';

/** Sends the pipeline's own queue messages; delays are whole seconds (SQS's unit, 0–900). */
export class JobQueues {
  constructor(
    private readonly sqs: SQSClient,
    private readonly urls: { poll: string; result: string },
  ) {}

  async schedulePoll(message: PollMessage, delaySeconds: number): Promise<void> {
    await this.send(this.urls.poll, message, delaySeconds);
  }

  async scheduleResult(message: ResultMessage, delaySeconds = 0): Promise<void> {
    await this.send(this.urls.result, message, delaySeconds);
  }

  private async send(queueUrl: string, message: PollMessage | ResultMessage, delaySeconds: number) {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: JSON.stringify(message),
        DelaySeconds: Math.min(900, Math.max(0, Math.round(delaySeconds))),
      }),
    );
  }
}
