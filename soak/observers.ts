import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook } from '../functions/core/webhooks/verify.ts';
import type { LocalPipeline } from '../local/pipeline.ts';

/** A completion notification as a channel delivered it. */
export interface Delivery {
  jobId: string;
  eventId: string;
  status: string;
}

/** Completion notifications per channel, as received (duplicates included). */
export interface Deliveries {
  sns: Delivery[];
  events: Delivery[];
  webhook: Delivery[];
}

interface CompletionEvent {
  event_id?: string;
  type?: string;
  job?: { id?: string; status?: string };
}

const completion = (event: CompletionEvent | undefined): Delivery | undefined =>
  event?.type === 'edit.job.completed' && event.job?.id && event.event_id
    ? { jobId: event.job.id, eventId: event.event_id, status: String(event.job.status) }
    : undefined;

/**
 * Drains the runtime's observer queues (the topic's and the bus's subscribers) for the whole soak:
 * receiving deletes, so everything is kept here.
 */
export class ChannelObserver {
  readonly deliveries: Pick<Deliveries, 'sns' | 'events'> = { sns: [], events: [] };
  #running = true;
  #loops: Promise<void>[] = [];

  constructor(
    private readonly pipeline: LocalPipeline,
    private readonly onEvent: (channel: 'sns' | 'events', event: unknown) => void = () => {},
  ) {
    this.#loops = [this.#loop('sns'), this.#loop('events')];
  }

  /** Envelope ids seen (SNS `MessageId`, EventBridge `id`): a message received again is not a new delivery. */
  #seen = new Set<string>();

  async #loop(channel: 'sns' | 'events'): Promise<void> {
    while (this.#running) await this.#receive(channel);
  }

  /** One receive; an emulator that answers too slowly under load is simply asked again. */
  async #receive(channel: 'sns' | 'events'): Promise<number> {
    let messages: Record<string, unknown>[];
    try {
      messages = await this.pipeline.receiveObserved(channel, { min: 100, timeoutMs: 1_000 });
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 500));
      return -1;
    }
    for (const message of messages) {
      // A receive whose delete timed out hands the same messages out again.
      const envelopeId = String(channel === 'sns' ? message.MessageId : message.id);
      if (this.#seen.has(envelopeId)) continue;
      this.#seen.add(envelopeId);
      const event =
        channel === 'sns'
          ? (JSON.parse(String(message.Message)) as CompletionEvent)
          : (message.detail as CompletionEvent | undefined);
      this.onEvent(channel, event);
      const delivery = completion(event);
      if (delivery) this.deliveries[channel].push(delivery);
    }
    return messages.length;
  }

  /** Stops after the queues stayed empty twice in a row (nothing more is on its way). */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
    for (const channel of ['sns', 'events'] as const) {
      let empty = 0;
      while (empty < 2) {
        const received = await this.#receive(channel);
        empty = received === 0 ? empty + 1 : received > 0 ? 0 : empty;
      }
    }
  }
}

/**
 * A webhook receiver on loopback that verifies every delivery's signature, records the valid ones
 * and answers 500 to a fraction of first deliveries (the pipeline retries them).
 */
export class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  /** Deliveries refused on purpose, and deliveries whose signature did not verify (must stay 0). */
  refused = 0;
  badSignatures = 0;
  /** Why each bad one failed: the verifier's code, the event id and the delay since its timestamp. */
  readonly badSignatureReasons: string[] = [];
  readonly #seen = new Set<string>();
  #server: Server | undefined;
  url = '';

  constructor(
    private readonly secret: string,
    private readonly failFirst: number,
    private readonly random: () => number,
  ) {}

  async start(): Promise<void> {
    this.#server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks);
        let id: string;
        let payload: unknown;
        try {
          ({ id, payload } = verifyWebhook(this.secret, request.headers, body));
        } catch (error) {
          this.badSignatures += 1;
          const timestamp = Number(request.headers['webhook-timestamp']);
          this.badSignatureReasons.push(
            `${(error as { code?: string }).code ?? String(error)} (event ${request.headers['webhook-id']}, ${body.length} bytes, signed ${Math.round(Date.now() / 1000 - timestamp)} s ago)`,
          );
          response.writeHead(401).end();
          return;
        }
        if (!this.#seen.has(id) && this.random() < this.failFirst) {
          this.#seen.add(id);
          this.refused += 1;
          response.writeHead(500).end();
          return;
        }
        this.#seen.add(id);
        const delivery = completion(payload as CompletionEvent);
        if (delivery) this.deliveries.push(delivery);
        response.writeHead(204).end();
      });
    });
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hooks/soak`;
  }

  async stop(): Promise<void> {
    if (!this.#server) return;
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, 'close');
  }
}
