import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { z } from 'zod/mini';
import { parseOrThrow } from '#core/validation';
import { logger, publishMetrics } from './powertools.ts';

/**
 * Runs `handle` for each SQS record and reports only the failed ones back (partial batch
 * response), so one bad record does not redeliver its healthy neighbours. A body that does not
 * match `schema` fails its record: after the queue's maxReceiveCount it lands in the DLQ, whose
 * alarm tells an operator.
 */
export function sqsBatchHandler<S extends z.ZodMiniType>(
  schema: S,
  handle: (message: z.infer<S>, record: SQSRecord, log: typeof logger) => Promise<unknown>,
) {
  const processor = new BatchProcessor(EventType.SQS);
  return async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    logger.addContext(context);
    try {
      return await processPartialResponse(
        event,
        async (record: SQSRecord) => {
          let body: unknown;
          try {
            body = JSON.parse(record.body);
          } catch {
            body = record.body;
          }
          const message = parseOrThrow(schema, body, 'queue message');
          const jobId = (message as { jobId?: string }).jobId;
          const log = logger.createChild({ persistentKeys: { jobId, messageId: record.messageId } });
          try {
            const outcome = await handle(message, record, log);
            log.debug('message handled', { outcome });
          } catch (error) {
            log.error('message failed; it will be retried', { error });
            throw error;
          }
        },
        processor,
        { context },
      );
    } finally {
      publishMetrics();
    }
  };
}
