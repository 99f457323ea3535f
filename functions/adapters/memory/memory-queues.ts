import type { PollQueueMessage, ResultMessage } from '#core/jobs/messages';
import type { JobQueues } from '#core/ports';
import type { WebhookMessage } from '#core/webhooks/webhook-message';

export type QueueName = 'poll' | 'result' | 'webhook';

export interface QueuedMessage {
  id: string;
  queue: QueueName;
  body: PollQueueMessage | ResultMessage | WebhookMessage;
  delaySeconds: number;
}

/** The pipeline's queues in memory: what was sent, in order, for a test to deliver as it likes. */
export class MemoryQueues implements JobQueues {
  readonly sent: QueuedMessage[] = [];
  #next = 0;

  async schedulePoll(message: PollQueueMessage, delaySeconds: number): Promise<void> {
    this.#push('poll', message, delaySeconds);
  }

  async scheduleResult(message: ResultMessage, delaySeconds = 0): Promise<void> {
    this.#push('result', message, delaySeconds);
  }

  async scheduleWebhook(message: WebhookMessage, delaySeconds = 0): Promise<void> {
    this.#push('webhook', message, delaySeconds);
  }

  /** Removes and returns the oldest message of `queue` (or of any queue). */
  take(queue?: QueueName): QueuedMessage | undefined {
    const index = this.sent.findIndex((message) => queue === undefined || message.queue === queue);
    return index < 0 ? undefined : this.sent.splice(index, 1)[0];
  }

  #push(queue: QueueName, body: QueuedMessage['body'], delaySeconds: number) {
    this.sent.push({ id: `m${this.#next++}`, queue, body: structuredClone(body), delaySeconds });
  }
}
