import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
  SQSBatchResponse,
  SQSEvent,
  SQSRecord,
} from 'aws-lambda';
import type { z } from 'zod/mini';
import { problemResponse } from '#core/http/problem';
import { parseOrThrow } from '#core/validation';
import { logger, publishMetrics } from './powertools.ts';

/** What a handler gets for one invocation: a logger carrying its context, and its time left. */
export interface Invocation {
  log: Logger;
  context: Context;
}

/**
 * The one shape of every handler: a logger of its own for the invocation (the Lambda context —
 * function name, request id, cold start — plus `keys`, e.g. the job id, on every line, even when
 * several invocations share a process, as in the local runtime), and the invocation's metrics
 * published at the end, whatever happened.
 */
export function makeHandler<E, R>(
  handle: (event: E, invocation: Invocation) => Promise<R>,
  keys: (event: E) => Record<string, unknown> = () => ({}),
): (event: E, context: Context) => Promise<R> {
  return async (event, context) => {
    const log = logger.createChild({ persistentKeys: safeKeys(() => keys(event)) });
    log.addContext(context);
    try {
      return await handle(event, { log, context });
    } finally {
      publishMetrics();
    }
  };
}

/**
 * An API Gateway (payload 2.0) route: errors become RFC 9457 problem+json (details only for
 * errors meant for the caller), the request id and path parameters on every log line.
 */
export function makeHttpHandler(
  handle: (
    event: APIGatewayProxyEventV2,
    invocation: Invocation,
  ) => Promise<APIGatewayProxyStructuredResultV2>,
) {
  return makeHandler<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>(
    async (event, invocation) => {
      try {
        return await handle(event, invocation);
      } catch (error) {
        return problemResponse(error, event.rawPath ?? '', invocation.log);
      }
    },
    (event) => ({
      requestId: event.requestContext?.requestId,
      route: event.routeKey,
      ...(event.pathParameters?.id ? { jobId: event.pathParameters.id.slice(0, 64) } : {}),
    }),
  );
}

/**
 * An SQS event source: runs `handle` for each record and reports only the failed ones back
 * (partial batch response), so one bad record does not redeliver its healthy neighbours. A body
 * that does not match `schema` fails its record: after the queue's maxReceiveCount it lands in
 * the DLQ, whose alarm tells an operator. Each record logs with its job id and message id.
 */
export function makeSqsHandler<S extends z.ZodMiniType>(
  schema: S,
  handle: (message: z.infer<S>, record: SQSRecord, invocation: Invocation) => Promise<unknown>,
) {
  return makeHandler<SQSEvent, SQSBatchResponse>((event, invocation) =>
    // A processor per invocation: it keeps the batch's state, and the local runtime runs
    // several batches of one handler at once in one process.
    processPartialResponse(
      event,
      async (record: SQSRecord) => {
        let message: z.infer<S>;
        try {
          message = parseOrThrow(schema, parseBody(record.body), 'queue message');
        } catch (error) {
          // Retried like any failure (a schema the next release accepts), then the DLQ and its alarm.
          invocation.log.error('queue message is invalid; it will be retried, then go to the DLQ', {
            messageId: record.messageId,
            error,
          });
          throw error;
        }
        const jobId = (message as { jobId?: string }).jobId;
        const log = invocation.log.createChild({ persistentKeys: { jobId, messageId: record.messageId } });
        try {
          const outcome = await handle(message, record, { ...invocation, log });
          log.debug('message handled', { outcome });
        } catch (error) {
          log.error('message failed; it will be retried', { error });
          throw error;
        }
      },
      new BatchProcessor(EventType.SQS),
      { context: invocation.context },
    ),
  );
}

function parseBody(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

function safeKeys(keys: () => Record<string, unknown>): Record<string, unknown> {
  try {
    return Object.fromEntries(Object.entries(keys()).filter(([, value]) => value !== undefined));
  } catch {
    return {};
  }
}

export type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 };
