import * as z from 'zod/mini';

const jobId = z.string().check(z.regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be a job id'));

/**
 * The poll queue carries each job's heartbeat: one message at a time per job, numbered by `seq`
 * so that a duplicate delivery or a stale copy is recognised and dropped. `requestId` rides along
 * only when a submission's request id could not be written to the table: the next heartbeat
 * records it, so an id RunComfy gave is never lost.
 */
export const HeartbeatSchema = z.object({
  jobId,
  seq: z.int().check(z.gte(0)),
  requestId: z.optional(z.string().check(z.regex(/^[A-Za-z0-9_-]{1,128}$/))),
  /** How often this first heartbeat already waited for its job's admission to be recorded. */
  waits: z.optional(z.int().check(z.gte(0))),
});
export type PollMessage = z.infer<typeof HeartbeatSchema>;

/**
 * A nudge to admit waiting jobs into free RunComfy slots: sent when a job arrives in line, and by
 * a finisher with no time to spare (an API cancel), whose job's slot it names in `release` to be
 * given back first.
 */
export const DispatchSchema = z.object({ dispatch: z.literal(true), release: z.optional(jobId) });
export type DispatchMessage = z.infer<typeof DispatchSchema>;

/** The poll queue carries heartbeats and admission nudges. */
export const PollQueueMessageSchema = z.union([HeartbeatSchema, DispatchSchema]);
export type PollQueueMessage = z.infer<typeof PollQueueMessageSchema>;

/**
 * The result queue carries jobs whose upstream run ended (to collect) and finished jobs whose
 * notification is still to send. Duplicates are harmless: one collector holds the lease at a time.
 */
export const ResultMessageSchema = z.object({
  jobId,
  /** Informational: which hand-over or retry sent it. */
  attempt: z._default(z.int().check(z.gte(0)), 0),
});
export type ResultMessage = z.infer<typeof ResultMessageSchema>;
