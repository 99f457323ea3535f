import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import type { Log } from '#core/log';
import { silentLog } from '#core/log';
import { QUEUES, type QueueName } from '../contract/index.ts';
import { LocalRuntimeError } from './errors.ts';
import { type InvocationTarget, invokeHandler } from './lambda-context.ts';

export interface DrivenQueue {
  name: QueueName;
  url: string;
  arn: string;
  /** The consumer the queue's event source mapping invokes (its function name is in the target). */
  target: InvocationTarget;
}

export interface SqsDriverOptions {
  sqs: SQSClient;
  queues: DrivenQueue[];
  /**
   * Seconds before a failed message is visible again. AWS leaves failed messages invisible
   * for the queue's whole visibility timeout (6 x the consumer's timeout, i.e. minutes);
   * locally that would stall every retry test, so a value here shortens the wait by setting
   * the failed messages' visibility explicitly. Redrive still counts receives as AWS does.
   * (Our moto launcher wakes a waiting long poll when a message comes due, as SQS does.)
   * @default undefined (the queue's visibility timeout, as in AWS)
   */
  retryDelaySeconds?: number;
  /** @default 20 (the event source mapping's long poll) */
  waitTimeSeconds?: number;
  /** Faults of SQS's own delivery, for soaks (see {@link DeliveryChaos}). @default none */
  chaos?: DeliveryChaos;
  log?: Log;
}

/**
 * What SQS and Lambda may do to a message that a soak plays on purpose, each a fraction (0–1):
 * - `duplicate`: the same message is delivered twice at once (at-least-once delivery);
 * - `skipDelete`: the handler succeeded but the message is not deleted, as if the function died
 *   between its last side effect and returning: it comes back after `retryDelaySeconds`;
 * - `expireVisibility`: the message becomes visible again while its handler still runs (a
 *   visibility timeout expiring mid-work), so another poll gets it too.
 */
export interface DeliveryChaos {
  duplicate: number;
  skipDelete: number;
  expireVisibility: number;
  /** @default Math.random */
  random?: () => number;
  /** Counted as they happen. */
  injected?: Record<string, number>;
  /**
   * What happened to each message, by message id, when given: each receive (`recv<n>`, SQS's
   * receive count), the faults played on it, the handler's verdict and the delete. A soak reads it
   * to tell why a message ended in a DLQ.
   */
  trace?: Map<string, string[]>;
}

interface QueueState {
  queue: DrivenQueue;
  inFlight: Set<Promise<void>>;
}

/**
 * Plays the part of Lambda's SQS event source mappings: long-polls each queue from
 * infra/definition.ts and invokes its consumer with a real `SQSEvent`, at most
 * `maxConcurrency` batches at a time, honouring partial batch responses
 * (`ReportBatchItemFailures`). Redrive to the DLQ is left to the queue's RedrivePolicy,
 * which moto applies on receive exactly like SQS.
 *
 * @example
 * const driver = new SqsDriver({ sqs, queues, retryDelaySeconds: 1 });
 * driver.start();
 * await driver.drain();
 * await driver.stop();
 */
export class SqsDriver {
  readonly #sqs: SQSClient;
  readonly #states: QueueState[];
  readonly #retryDelaySeconds: number | undefined;
  readonly #waitTimeSeconds: number;
  readonly #chaos: DeliveryChaos | undefined;
  readonly #log: Log;
  readonly #abort = new AbortController();
  #pollers: Promise<void>[] = [];
  /** Counts batches ever started, so `idle()` can tell that one began while it was looking. */
  #batchesStarted = 0;

  constructor(options: SqsDriverOptions) {
    this.#sqs = options.sqs;
    this.#states = options.queues.map((queue) => ({ queue, inFlight: new Set() }));
    this.#retryDelaySeconds = options.retryDelaySeconds;
    this.#waitTimeSeconds = options.waitTimeSeconds ?? 20;
    this.#chaos = options.chaos;
    this.#log = options.log ?? silentLog;
  }

  start(): void {
    if (this.#pollers.length > 0) return;
    this.#pollers = this.#states.map((state) => this.#poll(state));
  }

  /** Stops receiving and waits for the batches already handed to handlers. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await Promise.all(this.#pollers);
    await Promise.all(this.#states.flatMap((state) => [...state.inFlight]));
  }

  /**
   * True when no batch is running and every driven queue is empty, counting invisible
   * (being handled or waiting for a retry) and delayed messages. DLQs are not driven and
   * not counted.
   */
  async idle(): Promise<boolean> {
    const startedBefore = this.#batchesStarted;
    if (this.#inFlightCount() > 0) return false;
    const counts = await this.#queueCounts();
    const empty = counts.every((count) => count.messages === 0);
    return empty && this.#inFlightCount() === 0 && this.#batchesStarted === startedBefore;
  }

  /**
   * Waits until the pipeline settles (`idle()` twice in a row, so a message sent by the last
   * handler is seen) or fails with DRAIN_TIMEOUT, naming what is still pending.
   */
  async drain(options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    let idleInARow = 0;
    while (idleInARow < 2) {
      idleInARow = (await this.idle()) ? idleInARow + 1 : 0;
      if (idleInARow >= 2) return;
      if (Date.now() > deadline) {
        const pending = (await this.#queueCounts())
          .map((count) => `${count.name}: ${count.messages} messages`)
          .join(', ');
        throw new LocalRuntimeError(
          'DRAIN_TIMEOUT',
          `queues did not settle: ${pending}; ${this.#inFlightCount()} batches in flight`,
        );
      }
      await sleep(options.intervalMs ?? 100);
    }
  }

  #inFlightCount(): number {
    return this.#states.reduce((sum, state) => sum + state.inFlight.size, 0);
  }

  async #queueCounts(): Promise<{ name: QueueName; messages: number }[]> {
    return Promise.all(
      this.#states.map(async ({ queue }) => {
        const { Attributes = {} } = await this.#sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: queue.url,
            AttributeNames: [
              'ApproximateNumberOfMessages',
              'ApproximateNumberOfMessagesNotVisible',
              'ApproximateNumberOfMessagesDelayed',
            ],
          }),
        );
        const messages = Object.values(Attributes).reduce((sum, value) => sum + Number(value ?? 0), 0);
        return { name: queue.name, messages };
      }),
    );
  }

  /*
   * One long poll per queue at a time, dispatching each batch without awaiting it; when
   * maxConcurrency batches run, the poller waits for one to finish. This is how the mapping
   * caps concurrency, and it keeps moto (which serves long polls on threads) lightly loaded.
   */
  async #poll(state: QueueState): Promise<void> {
    const definition = QUEUES[state.queue.name];
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      if (state.inFlight.size >= definition.maxConcurrency) {
        await Promise.race(state.inFlight);
        continue;
      }
      let messages: Message[];
      try {
        const received = await this.#sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: state.queue.url,
            MaxNumberOfMessages: Math.min(definition.batchSize, 10),
            WaitTimeSeconds: this.#waitTimeSeconds,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          // The shared clients bound every call to the functions' AWS budget (seconds); a long
          // poll waits up to WaitTimeSeconds by design, so it gets that plus some slack.
          { abortSignal: signal, requestTimeout: longPollTimeoutMs(this.#waitTimeSeconds) },
        );
        messages = received.Messages ?? [];
      } catch (error) {
        if (signal.aborted) return;
        this.#log.error('receive failed; retrying', { queue: state.queue.name, error: String(error) });
        await sleep(1_000);
        continue;
      }
      if (messages.length === 0) continue;
      this.#batchesStarted += 1;
      const batch = this.#handleBatch(state.queue, messages).catch((error: unknown) => {
        this.#log.error('batch bookkeeping failed', { queue: state.queue.name, error: String(error) });
      });
      state.inFlight.add(batch);
      void batch.finally(() => state.inFlight.delete(batch));
    }
  }

  /** Whether a chaos fault of this kind strikes now (and counts it). */
  #strikes(kind: 'duplicate' | 'skipDelete' | 'expireVisibility'): boolean {
    const chaos = this.#chaos;
    if (!chaos || !(chaos[kind] > 0) || (chaos.random ?? Math.random)() >= chaos[kind]) return false;
    if (chaos.injected) chaos.injected[kind] = (chaos.injected[kind] ?? 0) + 1;
    return true;
  }

  /** Notes what happened to these messages, when the chaos asks for a trace. */
  #trace(messages: readonly Message[], what: (message: Message) => string): void {
    const trace = this.#chaos?.trace;
    if (!trace) return;
    for (const message of messages) {
      const id = message.MessageId ?? '?';
      trace.set(id, [...(trace.get(id) ?? []), what(message)]);
    }
  }

  async #handleBatch(queue: DrivenQueue, messages: Message[]): Promise<void> {
    const records = messages.map((message) => toSqsRecord(message, queue));
    const event: SQSEvent = { Records: records };
    this.#trace(messages, (message) => `recv${message.Attributes?.ApproximateReceiveCount ?? '?'}`);
    if (this.#strikes('duplicate')) {
      // The same batch again, at once: its handler runs twice concurrently; its outcome is discarded.
      this.#trace(messages, () => 'duplicate');
      void invokeHandler(queue.target, structuredClone(event)).catch(() => undefined);
    }
    if (this.#strikes('expireVisibility')) {
      // Visible again while the handler works: the next poll hands it to another invocation.
      this.#trace(messages, () => 'expireVisibility');
      void this.#makeVisible(queue, messages).catch(() => undefined);
    }
    let failedIds: Set<string>;
    try {
      const response = await invokeHandler(queue.target, event);
      failedIds = failedMessageIds(response, records);
    } catch (error) {
      this.#log.error('consumer failed; the whole batch will be retried', {
        queue: queue.name,
        function: queue.target.functionName,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
      failedIds = new Set(records.map((record) => record.messageId));
    }
    const succeeded = messages.filter((message) => !failedIds.has(message.MessageId!));
    const failed = messages.filter((message) => failedIds.has(message.MessageId!));
    // A function that dies after its side effects and before returning: nothing is deleted.
    const undeleted = succeeded.length > 0 && this.#strikes('skipDelete') ? succeeded : [];
    this.#trace(failed, () => 'failed');
    this.#trace(succeeded, () => (undeleted.length > 0 ? 'handled, skipDelete' : 'handled'));
    await this.#deleteMessages(queue, undeleted.length > 0 ? [] : succeeded);
    await this.#delayRetries(queue, [...failed, ...undeleted]);
  }

  async #makeVisible(queue: DrivenQueue, messages: Message[]): Promise<void> {
    await this.#sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queue.url,
        Entries: messages.map((message, index) => ({
          Id: String(index),
          ReceiptHandle: message.ReceiptHandle!,
          VisibilityTimeout: 0,
        })),
      }),
    );
  }

  async #deleteMessages(queue: DrivenQueue, messages: Message[]): Promise<void> {
    if (messages.length === 0) return;
    const { Failed = [] } = await this.#sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queue.url,
        Entries: messages.map((message, index) => ({
          Id: String(index),
          ReceiptHandle: message.ReceiptHandle!,
        })),
      }),
    );
    if (Failed.length > 0) this.#log.warn('some deletes failed', { queue: queue.name, failed: Failed });
    const failedIds = new Map(Failed.map((failure) => [failure.Id, failure.Code ?? 'failed']));
    this.#trace(messages, (message) => {
      const code = failedIds.get(String(messages.indexOf(message)));
      return code ? `delete failed: ${code}` : 'deleted';
    });
  }

  async #delayRetries(queue: DrivenQueue, messages: Message[]): Promise<void> {
    if (messages.length === 0 || this.#retryDelaySeconds === undefined) return;
    await this.#sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queue.url,
        Entries: messages.map((message, index) => ({
          Id: String(index),
          ReceiptHandle: message.ReceiptHandle!,
          VisibilityTimeout: this.#retryDelaySeconds,
        })),
      }),
    );
  }
}

/**
 * Lambda's rules for `ReportBatchItemFailures`: no response or an empty list means all
 * succeeded; an identifier that is empty or not in the batch fails the whole batch.
 */
export function failedMessageIds(response: unknown, records: SQSRecord[]): Set<string> {
  const all = new Set(records.map((record) => record.messageId));
  const failures = (response as Partial<SQSBatchResponse> | null | undefined)?.batchItemFailures;
  if (!Array.isArray(failures)) return new Set();
  const failed = new Set<string>();
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !all.has(id)) return all;
    failed.add(id);
  }
  return failed;
}

/** The record Lambda builds from a received message (binary values base64, as in AWS). */
export function toSqsRecord(message: Message, queue: Pick<DrivenQueue, 'arn' | 'target'>): SQSRecord {
  const attributes = message.Attributes ?? {};
  const messageAttributes: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      dataType: value.DataType ?? 'String',
      stringListValues: value.StringListValues ?? [],
      binaryListValues: (value.BinaryListValues ?? []).map((bytes) => Buffer.from(bytes).toString('base64')),
      ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
      ...(value.BinaryValue === undefined
        ? {}
        : { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
    };
  }
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body ?? '',
    attributes: {
      ...attributes,
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? queue.target.accountId,
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes,
    md5OfBody: message.MD5OfBody ?? '',
    ...(message.MD5OfMessageAttributes ? { md5OfMessageAttributes: message.MD5OfMessageAttributes } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN: queue.arn,
    awsRegion: queue.target.region,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((wake) => setTimeout(wake, ms));
}

/** How long a receive with `waitTimeSeconds` may take before it counts as failed. */
export function longPollTimeoutMs(waitTimeSeconds: number): number {
  return waitTimeSeconds * 1000 + 5_000;
}
