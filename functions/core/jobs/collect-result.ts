import { randomUUID } from 'node:crypto';
import { leaseMs } from '#contract/budgets';
import { OutputCopyError } from '../outputs/index.ts';
import type { StoredOutput } from '../outputs/stored-output.ts';
import type { OutputStore } from '../ports.ts';
import { RunComfyError } from '../runcomfy/errors.ts';
import { recordSpend } from './admission.ts';
import { type JobDeps, writeContext } from './deps.ts';
import { ensureNotified, finishJob } from './finish-job.ts';
import { type CollectAttempt, iso, isTerminal, type Job, type JobError } from './job.ts';
import {
  deferCollection,
  finishCollection,
  keepsSweepTime,
  MAX_HISTORY,
  startCollection,
} from './lifecycle.ts';
import type { ResultMessage } from './messages.ts';
import { upstreamDetails } from './submit-upstream.ts';

export interface CollectDeps extends JobDeps {
  outputs: OutputStore;
}

export type ResultOutcome = 'dropped' | 'notified' | 'finished' | 'retry_later';

/** A collection is given up only after this many attempts really ran, and the retry window passed. */
export const MIN_COLLECT_ATTEMPTS = 3;

/** Attempts in a row that took the lease and never recorded an outcome (crashes, timeouts) before giving up. */
export const MAX_SILENT_ATTEMPTS = 5;

/** Backoff between collection attempts: 2, 4, 8 … 60 s (or RunComfy's Retry-After, if longer). */
export function collectRetryDelaySeconds(attempt: number, retryAfterMs?: number): number {
  const backoff = Math.min(60, 2 ** Math.max(1, attempt));
  const asked = retryAfterMs === undefined ? 0 : Math.ceil(retryAfterMs / 1000);
  return Math.min(900, Math.max(backoff, asked));
}

/**
 * The result stage: collects a run RunComfy has finished. Takes the collection lease (one
 * collector at a time, so two can never write or delete the same outputs at once), reads
 * RunComfy's result, copies every output into the bucket (RunComfy's URLs are temporary), and
 * ends the job with its one terminal state; then sends the notification. A finished job whose
 * notification is still to send (the API's cancel queues it here) is just announced.
 *
 * No deadline applies here: RunComfy's run was paid for. Passing trouble — the result not
 * readable yet, an output that answers 404/403 while the file host catches up, a reset — is
 * retried with backoff until the schedule's retry waits add up to `RESULT_RETRY_WINDOW_SECONDS`,
 * and at least {@link MIN_COLLECT_ATTEMPTS} times; time spent waiting in our own queue, or lost
 * to a crashed attempt, never counts. Only then does the job end `OUTPUT_COPY_FAILED` (files) or
 * `RESULT_HANDOVER_FAILED` (the result itself), with what each attempt saw.
 */
export async function collectResult(deps: CollectDeps, message: ResultMessage): Promise<ResultOutcome> {
  const job = await deps.store.get(message.jobId);
  if (!job) {
    deps.log.warn('result message for an unknown job; dropped', { jobId: message.jobId });
    return 'dropped';
  }
  if (isTerminal(job.status)) {
    return (await ensureNotified(deps, job)) === 'sent' ? 'notified' : 'dropped';
  }
  if (!job.upstreamFinishedAt || !job.requestId) {
    deps.log.error('result message for a job not handed over; dropped', { jobId: job.id });
    return 'dropped';
  }

  if (job.collectNextAt && Date.parse(job.collectNextAt) - deps.clock.now() > EARLY_TOLERANCE_MS) {
    // A copy of an earlier message (a duplicate, a redelivery after a crash) before the attempt the
    // last one scheduled: an attempt now would spend the retry budget without its wait, and give a
    // paid run up early. It looks again then (it may be the only message left).
    return scheduleLookAgain(deps, job, message, 'an earlier message came back before the next attempt');
  }

  const ctx = writeContext(deps);
  const token = randomUUID();
  const lease = { token, untilMs: ctx.nowMs + leaseMs('result') };
  // Keeping the sweep time is on condition it did not move since the read: else written anew.
  const lean = startCollection(job, lease, ctx, true);
  const leased =
    (await deps.store.write(job.id, lean)) ??
    (keepsSweepTime(lean) ? await deps.store.write(job.id, startCollection(job, lease, ctx)) : undefined);
  if (!leased) return lookAgainAfterLease(deps, job, message);
  const collection = new Collection(deps, leased, token);
  // Attempts since the last one that recorded an outcome (the history keeps only the latest few).
  const silent = (leased.collectAttempts ?? 1) - 1 - (leased.collectHistory?.at(-1)?.attempt ?? 0);
  if (silent >= MAX_SILENT_ATTEMPTS) {
    return collection.giveUp(
      'RESULT_HANDOVER_FAILED',
      `the result stage started ${silent} attempts that never finished (crashed or timed out)`,
    );
  }
  return collection.run(leased.requestId as string);
}

/**
 * Another collector took the lease first. It may be working (then this was a duplicate), or it may
 * have crashed holding it: so the job is looked at again when the lease ends, rather than left to
 * the sweeper. If it has let go already (the attempt failed and was deferred), the job is looked at
 * again at its next attempt: that collector queued its retry, unless it died first — and a
 * duplicate delivery of this very message, once deleted here, would leave nothing else behind. A
 * job collected by then is simply dropped at that look.
 */
async function lookAgainAfterLease(
  deps: CollectDeps,
  seen: Job,
  message: ResultMessage,
): Promise<ResultOutcome> {
  const job = (await deps.store.get(seen.id)) ?? seen;
  if (isTerminal(job.status)) {
    deps.log.info('another collector ended the job; dropped', { jobId: job.id });
    return 'dropped';
  }
  return scheduleLookAgain(deps, job, message, 'another collector took the job');
}

/** Queues `message` again for when the job's lease ends, or else its next attempt is due. */
async function scheduleLookAgain(
  deps: CollectDeps,
  job: Job,
  message: ResultMessage,
  why: string,
): Promise<ResultOutcome> {
  const nowMs = deps.clock.now();
  const leaseLeftMs = job.collectLeaseUntil ? Date.parse(job.collectLeaseUntil) - nowMs : 0;
  const waitMs =
    leaseLeftMs > 0 ? leaseLeftMs : job.collectNextAt ? Date.parse(job.collectNextAt) - nowMs : 0;
  await deps.queues.scheduleResult(
    message,
    Math.min(MAX_QUEUE_DELAY_SECONDS, Math.ceil(Math.max(0, waitMs) / 1000) + 1),
  );
  deps.log.info(`${why}; looking again when it may be taken up`, {
    jobId: job.id,
    leaseUntil: job.collectLeaseUntil,
    nextAttemptAt: job.collectNextAt,
  });
  return 'retry_later';
}

/**
 * How early a message may come for the next attempt and still start it: SQS delays are whole
 * seconds and the functions' clocks differ a little.
 */
const EARLY_TOLERANCE_MS = 1_000;

/** SQS's longest message delay. */
const MAX_QUEUE_DELAY_SECONDS = 900;

/** One collection attempt under the lease `token`. */
class Collection {
  constructor(
    private readonly deps: CollectDeps,
    private readonly job: Job,
    private readonly token: string,
  ) {}

  async run(requestId: string): Promise<ResultOutcome> {
    let result: Awaited<ReturnType<CollectDeps['runComfy']['result']>>;
    try {
      result = await this.deps.runComfy.result(requestId);
    } catch (error) {
      if (!(error instanceof RunComfyError)) throw error;
      if (error.kind === 'not_found') {
        return this.finish({
          status: 'failed',
          error: {
            code: 'UPSTREAM_LOST',
            message: 'RunComfy no longer knows this request: its result is gone',
            upstream: upstreamDetails(error),
          },
        });
      }
      return this.retryLater('result_unavailable', error.message, error.httpStatus, error.retryAfterMs);
    }

    switch (result.state) {
      case 'succeeded':
        return this.copyAndSucceed(result.outputUrls, result.cost);
      case 'failed':
        return this.finish({
          status: 'failed',
          cost: result.cost,
          error: {
            code: 'UPSTREAM_FAILED',
            message: result.error?.message ?? 'RunComfy reported the job failed',
            upstream: result.error?.raw,
          },
        });
      case 'cancelled':
        return this.finish({ status: 'cancelled', cost: result.cost ?? 0 });
      default:
        // The status said finished, but the result is not final yet (or in a shape we do not know).
        this.deps.metrics.count('UpstreamUnknownShape');
        return this.retryLater('result_not_final', `RunComfy’s result says "${result.rawStatus}"`);
    }
  }

  private async copyAndSucceed(urls: string[], cost: number | undefined): Promise<ResultOutcome> {
    if (urls.length === 0) {
      return this.finish({
        status: 'failed',
        cost,
        error: {
          code: 'UPSTREAM_FAILED',
          message: 'RunComfy reported success but returned no output images',
        },
      });
    }
    let outputs: StoredOutput[];
    try {
      outputs = await this.deps.outputs.copy(this.job.id, urls);
    } catch (error) {
      if (!(error instanceof OutputCopyError)) throw error;
      if (error.retryable) return this.retryLater(error.reason, error.message, error.httpStatus);
      return this.finish({
        status: 'failed',
        cost,
        error: {
          code: 'OUTPUT_COPY_FAILED',
          message: error.message,
          upstream: { reason: error.reason, url: error.url, http_status: error.httpStatus },
          attempts: this.history(this.seen(error.reason, error.message, error.httpStatus)),
        },
      });
    }
    const finished = await this.finish({ status: 'succeeded', outputs, cost });
    if (finished === 'dropped') await this.removeUnclaimed(outputs);
    else this.deps.metrics.count('ResultsCollected');
    return finished;
  }

  /** Ends the job under the lease; `dropped` when the lease was lost meanwhile. */
  private async finish(outcome: Parameters<typeof finishCollection>[1]): Promise<ResultOutcome> {
    const finished = await finishJob(
      this.deps,
      this.job.id,
      finishCollection(this.token, outcome, writeContext(this.deps)),
    );
    if (!finished) return 'dropped';
    // What RunComfy charged, once: only the one finishing write gets here.
    if (outcome.cost) {
      this.deps.metrics.count('RunComfySpendUSD', outcome.cost);
      await recordSpend(this.deps, outcome.cost).catch((error: unknown) =>
        this.deps.log.warn('could not record the spend', { jobId: this.job.id, error }),
      );
    }
    return 'finished';
  }

  /**
   * The copy went through but the job was no longer ours to end: keep nothing that the job
   * does not list (a job that succeeded through another collector lists the same keys).
   */
  private async removeUnclaimed(outputs: StoredOutput[]): Promise<void> {
    const current = await this.deps.store.get(this.job.id);
    const keep = current?.status === 'succeeded' ? (current.outputs ?? []).map((output) => output.key) : [];
    if (outputs.every((output) => keep.includes(output.key))) return;
    const removed = await this.deps.outputs.deleteJobOutputs(this.job.id, keep);
    this.deps.log.warn('deleted outputs the job did not take', { jobId: this.job.id, removed });
    this.deps.metrics.count('OrphanOutputsDeleted', removed);
  }

  private seen(reason: string, message: string, httpStatus?: number): CollectAttempt {
    return {
      attempt: this.job.collectAttempts ?? 1,
      at: iso(this.deps.clock.now()),
      reason,
      message,
      ...(httpStatus === undefined ? {} : { httpStatus }),
    };
  }

  private history(last: CollectAttempt): CollectAttempt[] {
    return [...(this.job.collectHistory ?? []), last].slice(-MAX_HISTORY);
  }

  /**
   * Passing trouble: try again after a backoff — unless the retry waits would pass the retry
   * window and enough attempts really ran, then give up with what each one saw. The window is
   * the schedule's own waits, not the clock: a backlog in our queue must not eat into it.
   */
  private async retryLater(
    reason: string,
    message: string,
    httpStatus?: number,
    retryAfterMs?: number,
  ): Promise<ResultOutcome> {
    const deps = this.deps;
    const attempt = this.job.collectAttempts ?? 1;
    const seen = this.seen(reason, message, httpStatus);
    const ctx = writeContext(deps);
    const delaySeconds = collectRetryDelaySeconds(attempt, retryAfterMs);
    const waitedMs = (this.job.collectRetryWaitMs ?? 0) + delaySeconds * 1000;
    deps.metrics.count('ResultAttemptsFailed');
    if (attempt >= MIN_COLLECT_ATTEMPTS && waitedMs > deps.config.resultRetryWindowSeconds * 1000) {
      const copy = reason === 'download_failed' || reason === 'upload_failed';
      return this.giveUp(
        copy ? 'OUTPUT_COPY_FAILED' : 'RESULT_HANDOVER_FAILED',
        `${message} (gave up after ${attempt} attempts over ${deps.config.resultRetryWindowSeconds} s)`,
        seen,
      );
    }
    deps.log.warn('result not collected yet; retrying', {
      jobId: this.job.id,
      attempt,
      reason,
      error_message: message,
      httpStatus,
      delaySeconds,
    });
    const deferred = await deps.store.write(
      this.job.id,
      deferCollection(this.job, this.token, seen, ctx.nowMs + delaySeconds * 1000, ctx),
    );
    if (!deferred) return 'dropped';
    await deps.queues.scheduleResult({ jobId: this.job.id, attempt }, delaySeconds);
    return 'retry_later';
  }

  giveUp(code: JobError['code'], message: string, last?: CollectAttempt): Promise<ResultOutcome> {
    return this.finish({
      status: 'failed',
      error: {
        code,
        message: `RunComfy finished the run, but ${message}`,
        attempts: last ? this.history(last) : (this.job.collectHistory ?? []),
      },
    });
  }
}
