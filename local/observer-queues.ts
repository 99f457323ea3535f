import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { LocalClients } from './resources.ts';
import { longPollTimeoutMs } from './sqs-driver.ts';

/**
 * Receives (and deletes) at least `min` messages from one of the runtime's observer queues (the
 * topic's or the bus's subscriber), or what arrived before `timeoutMs`: their parsed bodies.
 */
export async function receiveObserved(
  clients: LocalClients,
  queueUrl: string,
  options: { min?: number; timeoutMs?: number } = {},
): Promise<Record<string, unknown>[]> {
  const min = options.min ?? 1;
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  const received: Record<string, unknown>[] = [];
  while (received.length < min) {
    const remainingSeconds = Math.ceil((deadline - Date.now()) / 1000);
    if (remainingSeconds <= 0) break;
    const waitTimeSeconds = Math.min(remainingSeconds, 20);
    const { Messages = [] } = await clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: waitTimeSeconds,
      }),
      { requestTimeout: longPollTimeoutMs(waitTimeSeconds) },
    );
    if (Messages.length === 0) continue;
    received.push(
      ...Messages.map((message) => JSON.parse(message.Body ?? 'null') as Record<string, unknown>),
    );
    await clients.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: Messages.map((message, index) => ({
          Id: String(index),
          ReceiptHandle: message.ReceiptHandle!,
        })),
      }),
    );
  }
  return received;
}
