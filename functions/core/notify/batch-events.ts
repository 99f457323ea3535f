import * as z from 'zod/mini';
import { EVENTS } from '#contract/events';

/*
 * A batch's completion, as a schema: the single source of its shape (the JSON Schema in
 * schemas/events/ is generated from it, like the jobs' events in `events.ts`).
 */

const timestamp = (description: string) => z.iso.datetime().check(z.describe(description));
const count = (description: string) => z.int().check(z.gte(0), z.describe(description));

export const BatchCompletedEventSchema = z
  .object({
    event_id: z
      .string()
      .check(z.describe('`<batch id>:completed`: the same on every redelivery, so drop duplicates by it')),
    type: z.literal('edit.batch.completed'),
    status: z.literal('completed'),
    occurred_at: timestamp('When the batch completed'),
    batch_id: z.string(),
    owner: z.optional(z.string().check(z.describe('Who submitted the batch (see the jobs’ `owner`)'))),
    created_at: timestamp('When the batch was accepted'),
    cancel_requested_at: z.optional(timestamp('When a cancel of the batch was asked for')),
    lines: count('Edit requests in the batch'),
    invalid_lines: count('Lines refused by validation and skipped (`on_invalid=skip`)'),
    counts: z
      .object({
        succeeded: count('Jobs that succeeded'),
        failed: count('Jobs that failed'),
        cancelled: count('Jobs cancelled'),
        expired: count('Jobs that expired'),
      })
      .check(z.describe('The batch’s jobs, by how they ended')),
    cost: z.number().check(z.describe('USD RunComfy charged for all the batch’s jobs')),
    results: z
      .object({
        s3_uri: z.string(),
        bucket: z.string(),
        key: z.string(),
      })
      .check(
        z.describe(
          'The results manifest: JSONL, one line per line of the batch (line, job_id, status, owner, outputs with sha256, error, cost)',
        ),
      ),
  })
  .check(
    z.meta({
      title: EVENTS.batchCompleted,
      description:
        'Every job of the batch ended and its results manifest is written. Once per batch, on EventBridge and SNS (at least once: drop a duplicate by `event_id`).',
    }),
  );

export type BatchCompletedEvent = z.infer<typeof BatchCompletedEventSchema>;
