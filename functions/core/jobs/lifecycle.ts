/**
 * A job's lifecycle, in one place: every state, every allowed transition (as data), and the only
 * code that decides what each transition writes and under which condition. The rest of the core
 * calls these named transitions and hands the resulting {@link JobWrite} to its `JobStore`; a
 * write whose condition no longer holds is refused, which is how a duplicate, stale or racing
 * actor finds out that someone else got there first.
 *
 * Three machines share the job record:
 * - **status** — `queued → running → succeeded | failed | cancelled | expired`, with the phases
 *   `submitting` (no RunComfy request id yet) and `collecting` (RunComfy finished the run).
 * - **collection** — once RunComfy reports the run finished, the job is handed over to the result
 *   stage. From then on no deadline applies: only the holder of the collection lease may copy the
 *   outputs and end the job, and it retries for a bounded window before giving up with a code that
 *   says so. The sweeper hands a stalled collection over again; it never expires it.
 * - **notification** — a finished job's completion notification goes out under a lease (taken in
 *   the finishing write when the finisher sends it itself) and is recorded once sent; the sweeper
 *   finds any finished job still unannounced. The webhook delivery is a sub-machine of it.
 *
 * The README's state diagram is generated from {@link TRANSITIONS} (`renderStateDiagram`); a test
 * fails when they differ.
 */

import type { StoredOutput } from '../outputs/stored-output.ts';
import type { WebhookDelivery } from '../webhooks/delivery.ts';
import { all, any, before, type Condition, has, is, missing, oneOf } from './conditions.ts';
import {
  ACTIVE_STATUSES,
  type CollectAttempt,
  iso,
  type Job,
  type JobError,
  type JobStatus,
  type LastError,
  TERMINAL_STATUSES,
  type TerminalStatus,
} from './job.ts';

type Machine = 'status' | 'collection' | 'notification' | 'webhook';

export interface TransitionSpec {
  machine: Machine;
  /** Statuses the job must be in for the write to go through. */
  from: readonly JobStatus[];
  /** The status it leaves the job in; absent: unchanged. */
  to?: JobStatus | readonly TerminalStatus[];
  /** Who takes it. */
  by: string;
  /** What it means, in a few words (the diagram's label is the transition's name). */
  says: string;
}

const ACTIVE = ACTIVE_STATUSES;
const TERMINAL = TERMINAL_STATUSES;

/** Every transition a job can take. Order is the order of a job's life; the diagram follows it. */
export const TRANSITIONS = {
  admit: {
    machine: 'status',
    from: ['queued'],
    by: 'dispatcher (poller, sweeper)',
    says: 'a RunComfy slot is the job’s: it leaves the line; its deadline starts (a job finding a free slot on arrival is made admitted)',
  },
  requeue: {
    machine: 'status',
    from: ['queued'],
    by: 'poller',
    says: 'RunComfy answered 429: back in line at its old place (or the head of its lane), the slot given back',
  },
  claimSubmission: {
    machine: 'status',
    from: ['queued'],
    by: 'poller',
    says: 'takes the next heartbeat and the next submission attempt; marks it in flight',
  },
  recordSubmission: {
    machine: 'status',
    from: [...ACTIVE, ...TERMINAL],
    by: 'poller',
    says: 'records the request id RunComfy answered (once; reconciled if the job has ended)',
  },
  deferSubmission: {
    machine: 'status',
    from: ['queued'],
    by: 'poller',
    says: 'RunComfy refused for now (429, 5xx, refused connection): retried by the chain',
  },
  heartbeat: {
    machine: 'status',
    from: ACTIVE,
    by: 'poller',
    says: 'takes the next heartbeat; records the queue position or passing trouble',
  },
  markRunning: {
    machine: 'status',
    from: ACTIVE,
    to: 'running',
    by: 'poller',
    says: 'RunComfy was seen running the job',
  },
  handOver: {
    machine: 'collection',
    from: ACTIVE,
    to: 'running',
    by: 'poller, sweeper',
    says: 'RunComfy finished the run: from now on no deadline applies',
  },
  startCollection: {
    machine: 'collection',
    from: ['running'],
    by: 'result',
    says: 'takes the collection lease (one collector at a time)',
  },
  deferCollection: {
    machine: 'collection',
    from: ['running'],
    by: 'result',
    says: 'the collection failed for now: releases the lease, retried with backoff',
  },
  resendCollection: {
    machine: 'collection',
    from: ['running'],
    by: 'sweeper',
    says: 'the collection looks stopped (no live lease, overdue): handed over again',
  },
  postponeSweep: {
    machine: 'collection',
    from: ['running'],
    by: 'sweeper',
    says: 'the sweeper looked early at a collection not stalled yet: it looks again when it would be',
  },
  finishCollection: {
    machine: 'collection',
    from: ['running'],
    to: ['succeeded', 'failed', 'cancelled'],
    by: 'result',
    says: 'the lease holder ends the job with RunComfy’s outcome and the copied outputs',
  },
  failSubmission: {
    machine: 'status',
    from: ['queued'],
    to: 'failed',
    by: 'poller, sweeper',
    says: 'RunComfy refused the job for good, or the submission’s outcome was lost',
  },
  loseUpstream: {
    machine: 'status',
    from: ACTIVE,
    to: 'failed',
    by: 'poller',
    says: 'RunComfy no longer knows the request (unknown or expired)',
  },
  cancel: {
    machine: 'status',
    from: ACTIVE,
    to: 'cancelled',
    by: 'jobs (API)',
    says: 'not submitted yet, or RunComfy confirmed the cancellation',
  },
  overtime: {
    machine: 'status',
    from: ACTIVE,
    by: 'poller, sweeper',
    says: 'the deadline passed while RunComfy runs the job (not cancellable, billed): still collected for a while',
  },
  requestCancel: {
    machine: 'status',
    from: ['queued'],
    by: 'jobs (API)',
    says: 'RunComfy could not be reached to cancel: the poll chain retries while the run is still queued',
  },
  expire: {
    machine: 'status',
    from: ACTIVE,
    to: 'expired',
    by: 'poller, sweeper',
    says: 'RunComfy did not finish before the deadline (cancelled upstream if still queued)',
  },
  takeNotifyLease: {
    machine: 'notification',
    from: TERMINAL,
    by: 'result, poller, sweeper',
    says: 'the right to send the completion notification, for a while',
  },
  releaseNotifyLease: {
    machine: 'notification',
    from: TERMINAL,
    by: 'any finisher',
    says: 'sending failed: another handler may try at once',
  },
  markNotified: {
    machine: 'notification',
    from: TERMINAL,
    by: 'any finisher',
    says: 'the completion notification went out (SNS, EventBridge, webhook queued)',
  },
  startWebhook: {
    machine: 'webhook',
    from: TERMINAL,
    by: 'any finisher',
    says: 'records the webhook delivery pending (round 1)',
  },
  resendWebhook: {
    machine: 'webhook',
    from: TERMINAL,
    by: 'jobs (API)',
    says: 'starts a new delivery round',
  },
  claimWebhookAttempt: {
    machine: 'webhook',
    from: TERMINAL,
    by: 'webhook',
    says: 'claims the next attempt of the round',
  },
  recordWebhookAttempt: {
    machine: 'webhook',
    from: TERMINAL,
    by: 'webhook',
    says: 'records the attempt’s outcome: delivered, pending (retry) or failed',
  },
} as const satisfies Record<string, TransitionSpec>;

export type TransitionName = keyof typeof TRANSITIONS;

/**
 * One conditional write of a job, as a transition decided it. Only the builders below make them
 * (the brand keeps it so); a store applies `set`, `setIfAbsent` and `remove` (top-level
 * attributes) and `updatedAt`, if and only if `condition` holds, atomically.
 */
export interface JobWrite {
  readonly transition: TransitionName;
  readonly set: Partial<Job>;
  /** Set only where the attribute is absent (e.g. `startedAt`, once). */
  readonly setIfAbsent: Partial<Job>;
  readonly remove: readonly (keyof Job)[];
  readonly condition: Condition;
  readonly [brand]: true;
}
declare const brand: unique symbol;

function write(
  transition: TransitionName,
  parts: {
    set?: Partial<Job>;
    setIfAbsent?: Partial<Job>;
    remove?: readonly (keyof Job)[];
    guard?: Condition;
  },
): JobWrite {
  const spec: TransitionSpec = TRANSITIONS[transition];
  const statusGuard = oneOf('status', spec.from);
  return {
    transition,
    set: parts.set ?? {},
    setIfAbsent: parts.setIfAbsent ?? {},
    remove: parts.remove ?? [],
    condition: parts.guard ? all(statusGuard, parts.guard) : statusGuard,
  } as JobWrite;
}

/** The clock and the timing settings every write is decided with. */
export interface WriteContext {
  nowMs: number;
  /** How long past a due time the sweeper waits before it acts (`SWEEP_GRACE_SECONDS`). */
  graceMs: number;
}

/**
 * When the sweeper looks at a job. An active job: its deadline plus grace (only a stopped poll
 * chain leaves it there). A handed-over one: its next collection plus a stall allowance. A
 * finished one: the end of its notification lease plus grace. `undefined`: never again.
 *
 * `sweepAt` is the sweep index's sort key: every change of it deletes and puts an index entry
 * (2 write units). So it is a lower bound — the sweeper may look early, and decides on the job's
 * own fields (`collectionStalledAt`) — and a write that would only move it later leaves it where
 * it is (`keptSweep`): the hand-over and the collection lease, which follow within seconds of each
 * other and of a job's admission, keep its deadline's sweep time when that is no later.
 */
const sweepAt = {
  active: (job: Pick<Job, 'deadlineAt'>, ctx: WriteContext) => iso(Date.parse(job.deadlineAt) + ctx.graceMs),
  collection: (nextAtMs: number, ctx: WriteContext) => iso(nextAtMs + COLLECTION_STALL_MS + ctx.graceMs),
  unstarted: (handedAtMs: number, ctx: WriteContext) =>
    iso(handedAtMs + UNSTARTED_COLLECTION_MS + ctx.graceMs),
  notification: (leaseUntilMs: number, ctx: WriteContext) => iso(leaseUntilMs + ctx.graceMs),
};

/**
 * How long a collection may be overdue before the sweeper hands it over again: longer than a
 * result message waits out a crashed invocation (the result queue's visibility timeout).
 */
export const COLLECTION_STALL_MS = 15 * 60_000;

/**
 * How long a hand-over may wait for its collection's first attempt before the sweeper hands it over
 * again, once: its result message was never queued (the handler that handed it over died first),
 * or it waits in a backlog (then one duplicate message, which the collection lease makes harmless).
 */
export const UNSTARTED_COLLECTION_MS = 2 * 60_000;

type CollectionFields = Pick<
  Job,
  'collectNextAt' | 'collectLeaseUntil' | 'collectAttempts' | 'collectResends'
>;

/** A hand-over no collector has taken up yet, and the sweeper has not handed over again. */
const unstarted = (job: CollectionFields) =>
  job.collectAttempts === undefined &&
  job.collectResends === undefined &&
  job.collectLeaseUntil === undefined;

/**
 * When a handed-over run's collection counts as stalled: its next attempt, or the end of its
 * lease if later, plus the stall allowance and grace (what `sweepAt` said before it became a
 * lower bound) — or, for one never taken up, its hand-over plus the shorter allowance for that.
 * The sweeper hands a collection over again only from then on.
 */
export function collectionStalledAt(job: CollectionFields, ctx: Pick<WriteContext, 'graceMs'>): number {
  const since = Math.max(
    job.collectNextAt ? Date.parse(job.collectNextAt) : 0,
    job.collectLeaseUntil ? Date.parse(job.collectLeaseUntil) : 0,
  );
  return since + stallAllowanceMs(job) + ctx.graceMs;
}

/** How long a collection may be overdue: shorter for one no collector has taken up yet. */
const stallAllowanceMs = (job: CollectionFields) =>
  unstarted(job) ? UNSTARTED_COLLECTION_MS : COLLECTION_STALL_MS;

/**
 * The job's sweep time stays, if it is already no later than `dueIso` — on condition that it is
 * still the one the caller read (another write may have moved it since: then the caller writes
 * again without `seen`). `undefined`: the write sets `sweepAt = dueIso` as before.
 */
function keptSweep(seen: Pick<Job, 'sweepAt'> | undefined, dueIso: string): Condition | undefined {
  return seen?.sweepAt !== undefined && seen.sweepAt <= dueIso ? is('sweepAt', seen.sweepAt) : undefined;
}

/** A write that kept the job's sweep time on condition (`keptSweep`): refused, it is retried without. */
export const keepsSweepTime = (change: JobWrite) =>
  (change.transition === 'handOver' || change.transition === 'startCollection') &&
  change.set.sweepAt === undefined;

/** The poll chain's sequence rule: this heartbeat's number, or its own redelivery. */
function ownsHeartbeat(seq: number, messageId: string): Condition {
  return any(is('pollCount', seq), all(is('pollCount', seq + 1), is('lastPollMessageId', messageId)));
}

export interface Heartbeat {
  seq: number;
  messageId: string;
}

const claimHeartbeat = (beat: Heartbeat): Partial<Job> => ({
  pollCount: beat.seq + 1,
  lastPollMessageId: beat.messageId,
});

// ---------------------------------------------------------------------------------------------
// New jobs (puts, not updates: the store's `create`).

/**
 * A new job, queued for submission. With admission control (`line`), it waits in its lane for a
 * RunComfy slot, outside the sweeper's index (a wait has no deadline: it starts at admission);
 * otherwise the sweeper's due time is its deadline plus grace.
 */
export function newJob(
  fields: Omit<Job, 'status' | 'submitAttempts' | 'pollCount' | 'sweepAt'>,
  ctx: WriteContext,
  admission?:
    | { lane: 'interactive' | 'batch'; seq: number }
    | { lane: 'interactive' | 'batch'; admitted: true },
): Job {
  const base = { ...fields, status: 'queued' as const, submitAttempts: 0, pollCount: 0 };
  if (!admission) return { ...base, sweepAt: sweepAt.active(fields, ctx) };
  // Admitted on arrival (it took a free slot): as `admit` leaves a job, without a place in line.
  if ('admitted' in admission)
    return {
      ...base,
      lane: admission.lane,
      admittedAt: iso(ctx.nowMs),
      sweepAt: sweepAt.active(fields, ctx),
    };
  return { ...base, lane: admission.lane, waitLane: admission.lane, waitKey: waitKeyOf(admission.seq) };
}

/** A place in line as the waiting index sorts it. */
export const waitKeyOf = (seq: number) => String(seq).padStart(15, '0');

/** A refused event-driven request, recorded as already failed, its notification still to send. */
export function rejectedJob(
  fields: Omit<Job, 'status' | 'submitAttempts' | 'pollCount' | 'sweepAt' | 'finishedAt'>,
  ctx: WriteContext,
): Job {
  return {
    ...fields,
    status: 'failed',
    finishedAt: iso(ctx.nowMs),
    submitAttempts: 0,
    pollCount: 0,
    sweepAt: sweepAt.notification(ctx.nowMs, ctx),
  };
}

/**
 * A batch line whose job is made after its batch was cancelled: `cancelled` from the start, never
 * submitted (cost 0). It sends no notification of its own (it never started): the batch counts it
 * as it is made, and its completion reports it.
 */
export function cancelledBatchJob(
  fields: Omit<Job, 'status' | 'submitAttempts' | 'pollCount' | 'sweepAt' | 'finishedAt'>,
  ctx: WriteContext,
): Job {
  return {
    ...fields,
    status: 'cancelled',
    finishedAt: iso(ctx.nowMs),
    notifiedAt: iso(ctx.nowMs),
    cost: 0,
    submitAttempts: 0,
    pollCount: 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Admission (status machine, phase `waiting`).

/** The job takes its RunComfy slot: out of the line; its deadline counts from now. */
export function admit(deadlineSeconds: number, ctx: WriteContext): JobWrite {
  const deadlineAt = iso(ctx.nowMs + deadlineSeconds * 1000);
  return write('admit', {
    set: { admittedAt: iso(ctx.nowMs), deadlineAt, sweepAt: sweepAt.active({ deadlineAt }, ctx) },
    remove: ['waitLane'],
    guard: all(has('waitLane'), missing('admittedAt'), missing('requestId')),
  });
}

/**
 * RunComfy refused the submission with 429 (too many in flight): the job gives its slot back and
 * waits again at `place` (see `placeInLine`), outside the sweeper's index; nothing was created
 * upstream.
 */
export function requeue(job: Job, trouble: LastError, inFlightSince: string, place: string): JobWrite {
  return write('requeue', {
    set: { waitLane: job.lane ?? 'interactive', waitKey: place, lastError: trouble },
    remove: ['admittedAt', 'submittingSince', 'sweepAt'],
    guard: all(has('admittedAt'), missing('requestId'), is('submittingSince', inFlightSince)),
  });
}

// ---------------------------------------------------------------------------------------------
// Submission (status machine, phase `submitting`).

/** Takes the heartbeat and attempt number `job.submitAttempts + 1`; only if nothing is in flight. */
export function claimSubmission(job: Job, beat: Heartbeat, ctx: WriteContext): JobWrite {
  return write('claimSubmission', {
    set: { ...claimHeartbeat(beat), submitAttempts: job.submitAttempts + 1, submittingSince: iso(ctx.nowMs) },
    guard: all(
      ownsHeartbeat(beat.seq, beat.messageId),
      missing('requestId'),
      missing('submittingSince'),
      // A job still waiting in line is not submitted: only the dispatcher lets it go.
      missing('waitLane'),
      is('submitAttempts', job.submitAttempts),
    ),
  });
}

/**
 * Records RunComfy's request id. Whatever the job's status: an id once received is never
 * dropped; a job that ended meanwhile is reconciled by the caller (cancelled upstream).
 */
export function recordSubmission(requestId: string, ctx: WriteContext): JobWrite {
  return write('recordSubmission', {
    set: { requestId, submittedAt: iso(ctx.nowMs) },
    remove: ['submittingSince', 'lastError'],
    guard: missing('requestId'),
  });
}

/** RunComfy refused for now: frees the job for the chain's next attempt, the trouble on record. */
export function deferSubmission(trouble: LastError): JobWrite {
  return write('deferSubmission', {
    set: { lastError: trouble },
    remove: ['submittingSince'],
    guard: missing('requestId'),
  });
}

/**
 * Ends a job whose submission failed for good (`UPSTREAM_REJECTED`) or whose outcome was lost
 * (`UPSTREAM_LOST`). `inFlightSince` is the submission marker the caller saw: the write goes
 * through only while that very attempt is the one in flight.
 */
export function failSubmission(error: JobError, inFlightSince: string, ctx: WriteContext): JobWrite {
  return write('failSubmission', {
    ...finishing('failed', ctx, { error }),
    guard: all(missing('requestId'), is('submittingSince', inFlightSince)),
  });
}

// ---------------------------------------------------------------------------------------------
// Polling (status machine).

/** A heartbeat that learnt nothing new, or the queue position, or passing trouble. */
export function heartbeat(
  beat: Heartbeat,
  learnt: { queuePosition?: number; trouble?: LastError } = {},
): JobWrite {
  return write('heartbeat', {
    set: {
      ...claimHeartbeat(beat),
      ...(learnt.queuePosition === undefined ? {} : { queuePosition: learnt.queuePosition }),
      ...(learnt.trouble ? { lastError: learnt.trouble } : {}),
    },
    guard: ownsHeartbeat(beat.seq, beat.messageId),
  });
}

/** RunComfy runs the job: `running`, and `startedAt` the first time. */
export function markRunning(beat: Heartbeat, ctx: WriteContext): JobWrite {
  return write('markRunning', {
    set: { ...claimHeartbeat(beat), status: 'running' },
    setIfAbsent: { startedAt: iso(ctx.nowMs) },
    // A cancellation still pending is moot: RunComfy cannot cancel a run in progress.
    remove: ['queuePosition', 'lastError', 'cancelRequestedAt'],
    guard: ownsHeartbeat(beat.seq, beat.messageId),
  });
}

/** RunComfy answers 404 for the request: it is unknown or expired there. */
export function loseUpstream(error: JobError, beat: Heartbeat, ctx: WriteContext): JobWrite {
  return write('loseUpstream', {
    ...finishing('failed', ctx, { error }),
    guard: all(ownsHeartbeat(beat.seq, beat.messageId), missing('upstreamFinishedAt')),
  });
}

/**
 * The deadline passed while RunComfy was running the job: a run in progress cannot be cancelled
 * and will be billed, so the job waits for it until `untilMs` (once per job). From the chain
 * (`beat`, which it claims) or from the sweeper (no `beat`: it looks again when the overtime ends).
 */
export function overtime(
  untilMs: number,
  trouble: LastError,
  beat: Heartbeat | undefined,
  ctx: WriteContext,
): JobWrite {
  return write('overtime', {
    set: {
      ...(beat ? claimHeartbeat(beat) : {}),
      overtimeUntil: iso(untilMs),
      sweepAt: sweepAt.active({ deadlineAt: iso(untilMs) }, ctx),
      lastError: trouble,
    },
    guard: all(
      has('requestId'),
      missing('overtimeUntil'),
      missing('upstreamFinishedAt'),
      ...(beat ? [ownsHeartbeat(beat.seq, beat.messageId)] : []),
    ),
  });
}

/**
 * The deadline passed while RunComfy had not finished (nor been seen to): `expired`. Refused
 * once the run was handed over (a finished run is collected, whatever the time) and while a
 * submission is in flight (its outcome decides first).
 */
export function expire(error: JobError, ctx: WriteContext): JobWrite {
  return write('expire', {
    ...finishing('expired', ctx, { error }),
    guard: all(missing('upstreamFinishedAt'), missing('submittingSince')),
  });
}

/**
 * A cancel RunComfy could not be asked (unreachable, 5xx, 429): recorded, so that the poll chain
 * asks again at each heartbeat while the run is still queued upstream (`cancelRequestedAt`).
 */
export function requestCancel(requestId: string, ctx: WriteContext): JobWrite {
  return write('requestCancel', {
    set: { cancelRequestedAt: iso(ctx.nowMs) },
    guard: all(is('requestId', requestId), missing('upstreamFinishedAt')),
  });
}

/**
 * Cancels a job: one never submitted (`requestId` absent), or one RunComfy confirmed cancelled
 * (`requestId` as given). The caller queues the notification itself (`notifyLater`).
 */
export function cancel(requestId: string | undefined, ctx: WriteContext): JobWrite {
  return write('cancel', {
    ...finishing('cancelled', ctx, { notifyLater: true, set: { cost: 0 } }),
    guard: all(
      missing('upstreamFinishedAt'),
      missing('submittingSince'),
      requestId === undefined ? missing('requestId') : is('requestId', requestId),
    ),
  });
}

// ---------------------------------------------------------------------------------------------
// Collection (the result stage).

/**
 * RunComfy finished the run: the job is handed to the result stage. From the chain (`beat`) or
 * from the sweeper for a chain that stopped (no `beat`). With `seen` (the job as the caller read
 * it), a sweep time no later than the collection's stays (`keptSweep`). The sweeper's own
 * hand-over is looked at again as soon as its collection would count as stalled unstarted: a
 * sweeper that dies before queueing the collection leaves no redelivery behind (a heartbeat does).
 */
export function handOver(
  beat: Heartbeat | undefined,
  ctx: WriteContext,
  seen?: Pick<Job, 'sweepAt'>,
): JobWrite {
  const now = iso(ctx.nowMs);
  const due = beat ? sweepAt.collection(ctx.nowMs, ctx) : sweepAt.unstarted(ctx.nowMs, ctx);
  const kept = keptSweep(seen, due);
  const owned = beat
    ? ownsHeartbeat(beat.seq, beat.messageId)
    : all(has('requestId'), missing('upstreamFinishedAt'));
  return write('handOver', {
    set: {
      ...(beat ? claimHeartbeat(beat) : {}),
      status: 'running',
      collectNextAt: now,
      ...(kept ? {} : { sweepAt: due }),
    },
    setIfAbsent: { startedAt: now, upstreamFinishedAt: now },
    remove: ['queuePosition', 'lastError'],
    guard: kept ? all(owned, kept) : owned,
  });
}

export interface CollectionLease {
  token: string;
  untilMs: number;
}

/**
 * Takes the collection lease, unless a live one is held; counts the attempt. With `keepSweep`,
 * a sweep time (as read in `job`) no later than the lease's end plus the stall allowance stays.
 */
export function startCollection(
  job: Job,
  lease: CollectionLease,
  ctx: WriteContext,
  keepSweep = false,
): JobWrite {
  const due = sweepAt.collection(lease.untilMs, ctx);
  const kept = keepSweep ? keptSweep(job, due) : undefined;
  return write('startCollection', {
    set: {
      collectLeaseToken: lease.token,
      collectLeaseUntil: iso(lease.untilMs),
      collectAttempts: (job.collectAttempts ?? 0) + 1,
      ...(kept ? {} : { sweepAt: due }),
    },
    guard: all(
      has('upstreamFinishedAt'),
      // The count makes two collectors that read the same job race for one write.
      job.collectAttempts === undefined
        ? missing('collectAttempts')
        : is('collectAttempts', job.collectAttempts),
      any(missing('collectLeaseUntil'), before('collectLeaseUntil', iso(ctx.nowMs))),
      ...(kept ? [kept] : []),
    ),
  });
}

/** The lease holder failed for now: records what it saw and when it tries again, and lets go. */
export function deferCollection(
  job: Job,
  token: string,
  seen: CollectAttempt,
  nextAtMs: number,
  ctx: WriteContext,
): JobWrite {
  return write('deferCollection', {
    set: {
      collectNextAt: iso(nextAtMs),
      collectRetryWaitMs: (job.collectRetryWaitMs ?? 0) + Math.max(0, nextAtMs - ctx.nowMs),
      collectHistory: [...(job.collectHistory ?? []), seen].slice(-MAX_HISTORY),
      lastError: {
        code: seen.reason.toUpperCase(),
        message: seen.message,
        attempt: seen.attempt,
        at: seen.at,
        nextTryAt: iso(nextAtMs),
      },
      sweepAt: sweepAt.collection(nextAtMs, ctx),
    },
    remove: ['collectLeaseToken', 'collectLeaseUntil'],
    guard: is('collectLeaseToken', token),
  });
}

/** Attempts kept on the job and in a final error. */
export const MAX_HISTORY = 10;

/**
 * The sweeper hands a stalled collection over again: no live lease, and overdue — its next attempt
 * and the end of its last lease both lie the stall allowance and grace behind, or, never taken up,
 * its hand-over the shorter allowance (`collectionStalledAt`; the sweep time is only a lower bound).
 */
export function resendCollection(job: Job, ctx: WriteContext): JobWrite {
  // `before` is strict: a time at most `stalledBy` is before `stalledBy + 1 ms`.
  const stalledBy = iso(ctx.nowMs - stallAllowanceMs(job) - ctx.graceMs + 1);
  // Decided on the job as read: on condition it is still so — untaken (no collector took it up,
  // no other sweep resent it), or its last lease as long ended as its next attempt.
  const lease = unstarted(job)
    ? [missing('collectAttempts'), missing('collectResends'), missing('collectLeaseUntil')]
    : [any(missing('collectLeaseUntil'), before('collectLeaseUntil', stalledBy))];
  return write('resendCollection', {
    set: {
      collectNextAt: iso(ctx.nowMs),
      collectResends: (job.collectResends ?? 0) + 1,
      sweepAt: sweepAt.collection(ctx.nowMs, ctx),
    },
    guard: all(
      has('upstreamFinishedAt'),
      ...lease,
      any(missing('collectNextAt'), before('collectNextAt', stalledBy)),
      before('sweepAt', iso(ctx.nowMs + 1)),
    ),
  });
}

/**
 * The sweeper met a collection that is not stalled yet (its sweep time is only a lower bound):
 * the job's sweep time moves to when it would be, so that it leaves the head of the sweep index
 * instead of filling every sweep's page ahead of the jobs that do need the sweeper.
 */
export function postponeSweep(job: Pick<Job, 'sweepAt'> & CollectionFields, ctx: WriteContext): JobWrite {
  return write('postponeSweep', {
    set: { sweepAt: iso(collectionStalledAt(job, ctx)) },
    // Only the sweep time read: any other write since decided it anew.
    guard: all(
      has('upstreamFinishedAt'),
      job.sweepAt === undefined ? missing('sweepAt') : is('sweepAt', job.sweepAt),
    ),
  });
}

/** The lease holder ends the job: `succeeded` with its outputs, or RunComfy's failure, or a final copy failure. */
export function finishCollection(
  token: string,
  outcome: {
    status: 'succeeded' | 'failed' | 'cancelled';
    outputs?: StoredOutput[];
    error?: JobError;
    cost?: number;
  },
  ctx: WriteContext,
): JobWrite {
  return write('finishCollection', {
    ...finishing(outcome.status, ctx, {
      error: outcome.error,
      set: {
        ...(outcome.outputs ? { outputs: outcome.outputs } : {}),
        ...(outcome.cost === undefined ? {} : { cost: outcome.cost }),
      },
    }),
    guard: is('collectLeaseToken', token),
  });
}

// ---------------------------------------------------------------------------------------------
// Every finishing write.

/** How long a finisher may send the notification before another handler may. */
export const NOTIFY_LEASE_MS = 150_000;

function finishing(
  status: TerminalStatus,
  ctx: WriteContext,
  options: { error?: JobError; set?: Partial<Job>; notifyLater?: boolean },
): { set: Partial<Job>; setIfAbsent: Partial<Job>; remove: (keyof Job)[] } {
  const now = iso(ctx.nowMs);
  // The finisher takes the notification lease in the same write (one write per job less);
  // a finisher that leaves the sending to the queue does not, so the queue's handler can.
  const leaseUntilMs = ctx.nowMs + (options.notifyLater ? 0 : NOTIFY_LEASE_MS);
  return {
    set: {
      ...options.set,
      status,
      ...(options.error ? { error: options.error } : {}),
      finishedAt: now,
      ...(options.notifyLater ? {} : { notifyLeaseUntil: iso(leaseUntilMs) }),
      sweepAt: sweepAt.notification(leaseUntilMs, ctx),
    },
    setIfAbsent: status === 'succeeded' ? { startedAt: now } : {},
    remove: [
      'queuePosition',
      'collectLeaseToken',
      'collectLeaseUntil',
      'collectNextAt',
      'lastError',
      'waitLane',
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Notification.

/** The right to send a finished job's notification, unless it went out or a live lease is held. */
export function takeNotifyLease(ctx: WriteContext): JobWrite {
  const untilMs = ctx.nowMs + NOTIFY_LEASE_MS;
  return write('takeNotifyLease', {
    set: { notifyLeaseUntil: iso(untilMs), sweepAt: sweepAt.notification(untilMs, ctx) },
    guard: all(
      missing('notifiedAt'),
      any(missing('notifyLeaseUntil'), before('notifyLeaseUntil', iso(ctx.nowMs))),
    ),
  });
}

export function releaseNotifyLease(): JobWrite {
  return write('releaseNotifyLease', { remove: ['notifyLeaseUntil'], guard: missing('notifiedAt') });
}

/** Sent: the job leaves the sweep index for good. */
export function markNotified(ctx: WriteContext): JobWrite {
  return write('markNotified', {
    set: { notifiedAt: iso(ctx.nowMs) },
    remove: ['notifyLeaseUntil', 'sweepAt'],
    guard: missing('notifiedAt'),
  });
}

// ---------------------------------------------------------------------------------------------
// Webhook delivery (a sub-machine of the notification; see webhooks/deliver-webhook.ts).

export function startWebhook(delivery: WebhookDelivery): JobWrite {
  return write('startWebhook', {
    set: { webhook: delivery },
    guard: all(has('webhookUrl'), missing('webhook')),
  });
}

/** A new round, only if the delivery is still in the round the caller saw. */
export function resendWebhook(next: WebhookDelivery, previousRound: number | undefined): JobWrite {
  return write('resendWebhook', {
    set: { webhook: next },
    guard: previousRound === undefined ? missing('webhook') : is('webhook.round', previousRound),
  });
}

interface WebhookStep {
  round: number;
  /** Attempts the delivery had made before this one. */
  attempt: number;
  messageId: string;
}

/**
 * Claims attempt `attempt + 1` of the round: still pending in that round with exactly `attempt`
 * attempts made — or this very message claimed it already and is redelivered.
 */
export function claimWebhookAttempt(next: WebhookDelivery, step: WebhookStep): JobWrite {
  return write('claimWebhookAttempt', {
    set: { webhook: next },
    guard: all(
      is('webhook.status', 'pending'),
      is('webhook.round', step.round),
      any(
        is('webhook.attempts', step.attempt),
        all(is('webhook.attempts', step.attempt + 1), is('webhook.lastMessageId', step.messageId)),
      ),
    ),
  });
}

/** Records the attempt's outcome, only while this message's attempt is still the last one. */
export function recordWebhookAttempt(outcome: WebhookDelivery, step: WebhookStep): JobWrite {
  return write('recordWebhookAttempt', {
    set: { webhook: outcome },
    guard: all(
      is('webhook.status', 'pending'),
      is('webhook.round', step.round),
      is('webhook.attempts', step.attempt + 1),
      is('webhook.lastMessageId', step.messageId),
    ),
  });
}

// ---------------------------------------------------------------------------------------------
// The diagram.

/**
 * The status machine as a Mermaid state diagram, generated from {@link TRANSITIONS}: the README
 * embeds it between markers, and a test fails when the two differ.
 */
export function renderStateDiagram(): string {
  const lines = [
    'stateDiagram-v2',
    '  [*] --> queued: accepted',
    '  [*] --> failed: rejected (invalid event)',
    '  [*] --> cancelled: made after its batch was cancelled',
  ];
  for (const [name, spec] of Object.entries(TRANSITIONS) as [TransitionName, TransitionSpec][]) {
    if (spec.to === undefined) continue;
    const targets = typeof spec.to === 'string' ? [spec.to] : spec.to;
    for (const from of spec.from) {
      for (const to of targets) {
        if (from === to) continue;
        lines.push(`  ${from} --> ${to}: ${name}`);
      }
    }
  }
  for (const status of TERMINAL) lines.push(`  ${status} --> [*]`);
  const notes = (machine: Machine) =>
    (Object.entries(TRANSITIONS) as [TransitionName, TransitionSpec][])
      .filter(([, spec]) => spec.machine === machine && spec.to === undefined)
      .map(([name]) => name)
      .join(', ');
  lines.push(`  note right of queued: ${notes('status')}`);
  lines.push(`  note right of running: ${notes('collection')}`);
  lines.push(`  note left of succeeded: ${notes('notification')}, ${notes('webhook')}`);
  return lines.join('\n');
}
