import * as z from 'zod/mini';

const batchId = z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a batch id'));
const count = z.int().check(z.gte(0));

/** Read the batch's manifest and check every line; then plan and queue its chunks. */
const ValidateSchema = z.object({ batchId, step: z.literal('validate') });

/**
 * Make the jobs of one chunk: the valid lines from `fromLine` in bytes `start`–`end` (end
 * exclusive) of the batch's copy of its manifest. `chunk` numbers it in the plan; `lines` is how
 * many valid lines it holds. A chunk cut short by the invocation's time goes on from a later line.
 */
const CreateSchema = z.object({
  batchId,
  step: z.literal('create'),
  chunk: count,
  lines: count,
  fromLine: z.int().check(z.gte(1)),
  start: count,
  end: count,
});

/** Cancel the batch's jobs that have not started, page after page (`after`: where to go on). */
const CancelSchema = z.object({
  batchId,
  step: z.literal('cancel'),
  after: z.optional(z.string().check(z.maxLength(200))),
});

/**
 * Every job ended: write the results manifest and send the one completion notification (the
 * step reads every job first: the jobs decide, whatever the counters say).
 */
const CompleteSchema = z.object({ batchId, step: z.literal('complete') });

/** The batch queue's messages: one step of one batch each. */
export const BatchMessageSchema = z.discriminatedUnion('step', [
  ValidateSchema,
  CreateSchema,
  CancelSchema,
  CompleteSchema,
]);
export type BatchMessage = z.infer<typeof BatchMessageSchema>;
export type CreateChunkMessage = z.infer<typeof CreateSchema>;
