import * as z from 'zod/mini';

/**
 * One attempt to deliver a job's completion webhook. `round` and `attempt` name the step it
 * may take: it is carried out only while the job's delivery is still in that round with that
 * many attempts made, so duplicates and messages of an earlier round are dropped.
 */
export const WebhookMessageSchema = z.object({
  jobId: z.string().check(z.minLength(1)),
  round: z.int().check(z.gte(1)),
  /** Attempts the job had made before this one (across rounds). */
  attempt: z.int().check(z.gte(0)),
  /** Failed attempts before this one in this round: picks the next retry delay. */
  retry: z.int().check(z.gte(0)),
});
export type WebhookMessage = z.infer<typeof WebhookMessageSchema>;
