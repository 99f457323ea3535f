import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDynamoDocumentClient } from '#adapters/aws/clients';
import { DynamoJobStore } from '#adapters/aws/dynamo-job-store';
import { MemoryJobStore } from '#adapters/memory/memory-job-store';
import type { Job } from '#core/jobs/job';
import * as lifecycle from '#core/jobs/lifecycle';
import type { Clock } from '#core/ports';
import { TABLE } from '../../contract/index.ts';
import { type MotoServer, startMotoServer } from '../../local/moto-server.ts';
import { createKeyOnlyJobsTable } from '../support/jobs-table.ts';
import { stubAwsEnvFor } from '../support/moto-env.ts';

/**
 * The in-memory store is the safety net of the race tests only if it accepts and refuses exactly
 * the writes DynamoDB does. Every lifecycle transition is applied to jobs in every state, on both
 * stores (DynamoDB on moto, through the real adapter), and both must agree on whether the write
 * goes through and on the record it leaves.
 */
const TABLE_NAME = 'store-conformance';
const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const clock: Clock = { now: () => NOW, sleep: async () => {} };
const ctx = { nowMs: NOW, graceMs: 300_000 };
const at = (offsetMs: number) => new Date(NOW + offsetMs).toISOString();

const INPUT = {
  prompt: 'p',
  image_urls: ['https://a.example/b.png'],
  guidance_scale: 2.5,
  image_size: 'square_hd' as const,
  output_format: 'png' as const,
};

/** Jobs in the states a job passes through. */
const STATES: Record<string, Partial<Job>> = {
  new: {},
  submitting: { submitAttempts: 1, submittingSince: at(-1_000), pollCount: 1, lastPollMessageId: 'p0' },
  queuedUpstream: {
    submitAttempts: 1,
    requestId: 'r1',
    pollCount: 2,
    lastPollMessageId: 'p1',
    queuePosition: 3,
  },
  running: { status: 'running', submitAttempts: 1, requestId: 'r1', pollCount: 3, startedAt: at(-5_000) },
  handedOver: {
    status: 'running',
    requestId: 'r1',
    pollCount: 4,
    upstreamFinishedAt: at(-2_000),
    collectNextAt: at(-2_000),
  },
  collecting: {
    status: 'running',
    requestId: 'r1',
    pollCount: 4,
    upstreamFinishedAt: at(-2_000),
    collectAttempts: 1,
    collectLeaseToken: 'lease-a',
    collectLeaseUntil: at(100_000),
  },
  staleLease: {
    status: 'running',
    requestId: 'r1',
    upstreamFinishedAt: at(-600_000),
    collectAttempts: 2,
    collectLeaseToken: 'lease-a',
    collectLeaseUntil: at(-1_000),
    sweepAt: at(-1),
  },
  stalledCollection: {
    status: 'running',
    requestId: 'r1',
    upstreamFinishedAt: at(-3_600_000),
    collectNextAt: at(-3_600_000),
    collectAttempts: 1,
    collectLeaseToken: 'lease-a',
    collectLeaseUntil: at(-1_500_000),
    sweepAt: at(-1),
  },
  finishedLeased: {
    status: 'succeeded',
    requestId: 'r1',
    finishedAt: at(-1_000),
    notifyLeaseUntil: at(60_000),
  },
  finishedUnsent: { status: 'cancelled', finishedAt: at(-600_000), notifyLeaseUntil: at(-1_000) },
  notified: { status: 'failed', finishedAt: at(-600_000), notifiedAt: at(-500_000) },
  withWebhook: {
    status: 'succeeded',
    webhookUrl: 'https://hooks.example.com/a',
    webhook: { status: 'pending', attempts: 1, round: 1, lastMessageId: 'w1' },
  },
};

function jobIn(state: string, id: string): Job {
  return {
    id,
    status: 'queued',
    input: INPUT,
    createdAt: at(-60_000),
    updatedAt: at(-60_000),
    deadlineAt: at(600_000),
    sweepAt: at(900_000),
    submitAttempts: 0,
    pollCount: 0,
    ...STATES[state],
  };
}

/** Every transition, built as its actor would (arguments that fit the states above). */
function transitions(job: Job): [string, lifecycle.JobWrite][] {
  const beat = { seq: job.pollCount, messageId: 'p-next' };
  const redelivered = { seq: Math.max(0, job.pollCount - 1), messageId: job.lastPollMessageId ?? 'none' };
  const error = { code: 'DEADLINE_EXCEEDED' as const, message: 'late' };
  const trouble = { code: 'RUNCOMFY_TRANSIENT', message: '503', attempt: 1, at: at(0) };
  const seen = { attempt: 1, at: at(0), reason: 'download_failed', message: '404', httpStatus: 404 };
  const delivery = { status: 'pending' as const, attempts: 2, round: 1, lastMessageId: 'w2' };
  return [
    ['claimSubmission', lifecycle.claimSubmission(job, beat, ctx)],
    ['claimSubmission (redelivered)', lifecycle.claimSubmission(job, redelivered, ctx)],
    ['recordSubmission', lifecycle.recordSubmission('r2', ctx)],
    ['deferSubmission', lifecycle.deferSubmission(trouble)],
    ['failSubmission', lifecycle.failSubmission({ ...error, code: 'UPSTREAM_LOST' }, at(-1_000), ctx)],
    ['heartbeat', lifecycle.heartbeat(beat, { queuePosition: 1 })],
    ['heartbeat (redelivered)', lifecycle.heartbeat(redelivered, { trouble })],
    ['markRunning', lifecycle.markRunning(beat, ctx)],
    ['loseUpstream', lifecycle.loseUpstream({ ...error, code: 'UPSTREAM_LOST' }, beat, ctx)],
    ['overtime', lifecycle.overtime(NOW + 900_000, { ...trouble, code: 'RUN_OVERTIME' }, beat, ctx)],
    [
      'overtime (sweeper)',
      lifecycle.overtime(NOW + 900_000, { ...trouble, code: 'RUN_OVERTIME' }, undefined, ctx),
    ],
    ['requestCancel', lifecycle.requestCancel('r1', ctx)],
    ['expire', lifecycle.expire(error, ctx)],
    ['cancel (unsubmitted)', lifecycle.cancel(undefined, ctx)],
    ['cancel (confirmed upstream)', lifecycle.cancel('r1', ctx)],
    ['handOver', lifecycle.handOver(beat, ctx)],
    ['handOver (sweeper)', lifecycle.handOver(undefined, ctx)],
    ['handOver (sweep time kept)', lifecycle.handOver(beat, ctx, job)],
    ['startCollection', lifecycle.startCollection(job, { token: 'lease-b', untilMs: NOW + 150_000 }, ctx)],
    [
      'startCollection (sweep time kept)',
      lifecycle.startCollection(job, { token: 'lease-b', untilMs: NOW + 150_000 }, ctx, true),
    ],
    ['deferCollection', lifecycle.deferCollection(job, 'lease-a', seen, NOW + 4_000, ctx)],
    ['resendCollection', lifecycle.resendCollection(job, ctx)],
    ['finishCollection', lifecycle.finishCollection('lease-a', { status: 'succeeded', cost: 0.01 }, ctx)],
    ['takeNotifyLease', lifecycle.takeNotifyLease(ctx)],
    ['releaseNotifyLease', lifecycle.releaseNotifyLease()],
    ['markNotified', lifecycle.markNotified(ctx)],
    ['startWebhook', lifecycle.startWebhook({ status: 'pending', attempts: 0, round: 1 })],
    ['resendWebhook', lifecycle.resendWebhook({ ...delivery, round: 2 }, 1)],
    [
      'claimWebhookAttempt',
      lifecycle.claimWebhookAttempt(delivery, { round: 1, attempt: 1, messageId: 'w2' }),
    ],
    [
      'recordWebhookAttempt',
      lifecycle.recordWebhookAttempt(delivery, { round: 1, attempt: 0, messageId: 'w1' }),
    ],
  ];
}

let moto: MotoServer;
let dynamo: DynamoJobStore;

beforeAll(async () => {
  moto = await startMotoServer();
  stubAwsEnvFor(moto.endpoint);
  const client = createDynamoDocumentClient();
  await createKeyOnlyJobsTable(client, TABLE_NAME);
  dynamo = new DynamoJobStore(client, TABLE_NAME, 30, clock);
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await moto?.stop();
});

describe('Stores: in memory and DynamoDB agree on every lifecycle write', () => {
  it.each(Object.keys(STATES))('from a job that is %s', async (state) => {
    const names = transitions(jobIn(state, 'probe')).map(([name]) => name);
    const disagreements: string[] = [];
    let accepted = 0;
    for (const [index, name] of names.entries()) {
      const id = `${state}-${index}`;
      const job = jobIn(state, id);
      const memory = new MemoryJobStore(clock);
      await Promise.all([memory.create(job), dynamo.create(job)]);
      const change = (
        transitions(job).find(([candidate]) => candidate === name) as [string, lifecycle.JobWrite]
      )[1];

      const [inMemory, inDynamo] = await Promise.all([memory.write(id, change), dynamo.write(id, change)]);

      if (inMemory && inDynamo) accepted += 1;
      if (Boolean(inMemory) !== Boolean(inDynamo)) {
        disagreements.push(
          `${name}: memory ${inMemory ? 'wrote' : 'refused'}, DynamoDB ${inDynamo ? 'wrote' : 'refused'}`,
        );
      } else if (inMemory && JSON.stringify(sorted(inMemory)) !== JSON.stringify(sorted(inDynamo as Job))) {
        disagreements.push(
          `${name}: records differ\n  memory   ${JSON.stringify(sorted(inMemory))}\n  DynamoDB ${JSON.stringify(sorted(inDynamo as Job))}`,
        );
      }
    }
    expect(disagreements).toEqual([]);
    // Each state lets some transitions through and refuses others: the comparison is not vacuous.
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(names.length);
  });
});

describe('Stores: the job item on DynamoDB', () => {
  it('keeps the id in the key only, and reads the job back whole', async () => {
    const job = jobIn('running', 'id-in-key');
    await dynamo.create(job);
    const { Item } = await createDynamoDocumentClient().send(
      new GetCommand({ TableName: TABLE_NAME, Key: { [TABLE.partitionKey]: 'job#id-in-key' } }),
    );
    expect(Item?.id).toBeUndefined();
    expect(sorted(await dynamo.get('id-in-key'))).toEqual(sorted(job));
  });

  it('reads many jobs at once as one read each would: past 100 keys, with missing and deleted ones', async () => {
    const memory = new MemoryJobStore(clock);
    const ids = Array.from({ length: 130 }, (_, index) => `many-${index}`);
    // Every third id has no job; one job is deleted (a tombstone reads as no job).
    const made = ids.filter((_, index) => index % 3 !== 0).map((id) => jobIn('notified', id));
    for (const job of made) await Promise.all([memory.create(job), dynamo.create(job)]);
    const deletedAt = new Date(clock.now()).toISOString();
    expect(await dynamo.delete(made[0]!, deletedAt)).toBe(true);
    expect(await memory.delete(made[0]!, deletedAt)).toBe(true);

    const [inMemory, inDynamo] = await Promise.all([memory.getMany(ids), dynamo.getMany(ids)]);

    expect([...inDynamo.keys()].sort()).toEqual([...ids].sort());
    for (const id of ids) {
      const one = await dynamo.get(id);
      expect(sorted(inDynamo.get(id)), id).toEqual(sorted(one));
      expect(sorted(inMemory.get(id)), id).toEqual(sorted(one));
    }
    expect(inDynamo.get(made[0]!.id)).toBeUndefined();
    expect(inDynamo.get(made[1]!.id)?.id).toBe(made[1]!.id);
  });
});

function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, item]) => item !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([key, item]) => [key, sorted(item)]),
    );
  }
  return value;
}
