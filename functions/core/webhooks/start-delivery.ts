import { ConflictError, NotFoundError } from '../errors.ts';
import { isTerminal, type Job } from '../jobs/job.ts';
import { resendWebhook as resendWebhookWrite, startWebhook } from '../jobs/lifecycle.ts';
import type { JobQueues, JobStore, Log, MetricSink } from '../ports.ts';
import type { WebhookDelivery } from './delivery.ts';

export interface WebhookStartDeps {
  log: Log;
  metrics: MetricSink;
  store: JobStore;
  /** Without `scheduleWebhook` the deployment has no webhook queue (then no job may ask for one). */
  queues: Pick<JobQueues, 'scheduleWebhook'>;
}

/**
 * Starts the webhook delivery of a job that ended and asked for one: records it `pending`, then
 * queues its first attempt. Called while the completion notification goes out, before it is
 * recorded as sent, so a crash in between makes the retry call this again; the delivery is then
 * found already recorded and its first attempt queued once more, which the attempt's
 * conditional claim turns into a no-op.
 */
export async function startWebhookDelivery(deps: WebhookStartDeps, job: Job): Promise<void> {
  if (!job.webhookUrl) return;
  const schedule = deps.queues.scheduleWebhook;
  if (!schedule) {
    deps.log.error('the job asked for a webhook but no webhook queue is configured', { jobId: job.id });
    deps.metrics.count('WebhooksFailed');
    return;
  }
  const initial: WebhookDelivery = { status: 'pending', attempts: 0, round: 1 };
  const created = await deps.store.write(job.id, startWebhook(initial));
  const delivery = created?.webhook ?? (await deps.store.get(job.id))?.webhook;
  // Delivered, given up, or its round already made an attempt (and so queued the next): done.
  if (delivery?.status !== 'pending' || delivery.firstAttemptAt) return;
  await schedule.call(deps.queues, {
    jobId: job.id,
    round: delivery.round,
    attempt: delivery.attempts,
    retry: 0,
  });
}

export class WebhookNotResendableError extends ConflictError {
  override readonly name: string = 'WebhookNotResendableError';
}

/**
 * Sends a finished job's webhook again: starts a new round (its own retry window) that retires
 * any attempt still queued from an earlier round. The attempt count and the last outcome stay
 * on record. Answers 409 for a job that has not ended (its webhook goes out when it does) and
 * 422 for a job without a `webhook_url`.
 *
 * @example
 * const job = await resendWebhook(deps, jobId); // job.webhook.status === 'pending'
 */
export async function resendWebhook(deps: WebhookStartDeps, jobId: string): Promise<Job> {
  const job = await deps.store.get(jobId);
  if (!job) throw new NotFoundError(`no job with id ${jobId}`);
  if (!isTerminal(job.status)) {
    throw new WebhookNotResendableError(
      'JOB_NOT_FINISHED',
      `the job has not ended (${job.status}); its webhook is sent when it does`,
      409,
    );
  }
  if (!job.webhookUrl) {
    throw new WebhookNotResendableError('NO_WEBHOOK_URL', 'the job was submitted without a webhook_url', 422);
  }
  const schedule = deps.queues.scheduleWebhook;
  if (!schedule) {
    throw new WebhookNotResendableError(
      'WEBHOOKS_NOT_CONFIGURED',
      'webhooks are not enabled on this deployment',
      409,
    );
  }

  const previous = job.webhook;
  const next: WebhookDelivery = {
    status: 'pending',
    attempts: previous?.attempts ?? 0,
    round: (previous?.round ?? 0) + 1,
    lastAttemptAt: previous?.lastAttemptAt,
    lastStatusCode: previous?.lastStatusCode,
    lastError: previous?.lastError,
  };
  const written = await deps.store.write(job.id, resendWebhookWrite(next, previous?.round));
  // Another resend, or the first delivery's start, got there first: decide again on what it left.
  if (!written) return resendWebhook(deps, jobId);
  await schedule.call(deps.queues, { jobId: job.id, round: next.round, attempt: next.attempts, retry: 0 });
  deps.log.info('webhook resend queued', { jobId: job.id, round: next.round });
  deps.metrics.count('WebhooksResent');
  return written;
}
