import * as z from 'zod/mini';

/**
 * The poll queue carries each job's heartbeat: one message at a time per job, numbered by `seq`
 * so that a duplicate delivery or a stale copy is recognised and dropped.
 */
export const PollMessageSchema = z.object({
  jobId: z.string().check(z.minLength(1)),
  seq: z.int().check(z.gte(0)),
});
export type PollMessage = z.infer<typeof PollMessageSchema>;

/** The result queue carries jobs whose upstream run ended; `attempt` counts result fetches. */
export const ResultMessageSchema = z.object({
  jobId: z.string().check(z.minLength(1)),
  attempt: z._default(z.int().check(z.gte(0)), 0),
});
export type ResultMessage = z.infer<typeof ResultMessageSchema>;
