import { BatchGetCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { listJobs } from '#adapters/aws/dynamo-job-list';
import { LIST_TIME_BUDGET_MS } from '#contract/budgets';
import { TABLE } from '#contract/table';
import type { Clock } from '#core/clock';
import { ServiceUnavailableError } from '#core/errors';
import type { Job } from '#core/jobs/job';

/**
 * What the list does with DynamoDB's answers, over a stand-in for the document client that answers
 * as DynamoDB does when it throttles (`BatchGetItem` leaving keys in `UnprocessedKeys`) or is slow
 * (each request takes a while of the injected clock): moto never throttles nor stalls, so the
 * integration tests cannot reach these branches.
 */
const OWNER = 'owner-key';
const positionOf = (index: number) =>
  `2026-12-04T10:${String(Math.floor(index / 60)).padStart(2, '0')}:${String(index % 60).padStart(2, '0')}.000Z#j${index}`;
const keyOf = (position: string) => `job#${position.slice(position.lastIndexOf('#') + 1)}`;
const idOf = (position: string) => position.slice(position.lastIndexOf('#') + 1);

interface Table {
  dynamo: DynamoDBDocumentClient;
  batchGets: () => number;
}

/** A client over `count` jobs of one owner; `unreadable` keys are left unprocessed; each request takes `requestMs`. */
function table(
  count: number,
  clock: ManualClock,
  options: { unreadable?: Set<string>; requestMs?: number } = {},
): Table {
  const positions = Array.from({ length: count }, (_, index) => positionOf(index));
  let batchGets = 0;
  const send = async (command: unknown) => {
    clock.advance(options.requestMs ?? 0);
    if (command instanceof QueryCommand) {
      const lower = String(command.input.ExpressionAttributeValues?.[':lower']);
      const start = command.input.ExclusiveStartKey?.at as number | undefined;
      const from = start ?? positions.findIndex((position) => position >= lower);
      const page = from < 0 ? [] : positions.slice(from, from + 200);
      return {
        Items: page.map((position) => ({ [TABLE.listIndexes.byOwner.sortKey]: position })),
        ...(from >= 0 && from + 200 < positions.length ? { LastEvaluatedKey: { at: from + 200 } } : {}),
      };
    }
    if (command instanceof BatchGetCommand) {
      batchGets += 1;
      const [name, request] = Object.entries(command.input.RequestItems ?? {})[0]!;
      const keys = (request.Keys ?? []).map((key) => String(key[TABLE.partitionKey]));
      const unread = keys.filter((key) => options.unreadable?.has(key));
      return {
        Responses: {
          [name]: keys
            .filter((key) => !unread.includes(key))
            .map((key) => ({ [TABLE.partitionKey]: key, id: key.slice(4), ownerKey: OWNER })),
        },
        UnprocessedKeys: unread.length
          ? { [name]: { Keys: unread.map((key) => ({ [TABLE.partitionKey]: key })) } }
          : {},
      };
    }
    throw new Error('unexpected command');
  };
  return { dynamo: { send } as unknown as DynamoDBDocumentClient, batchGets: () => batchGets };
}

class ManualClock implements Clock {
  #now = Date.parse('2026-12-04T12:00:00Z');
  now(): number {
    return this.#now;
  }
  async sleep(ms: number): Promise<void> {
    this.#now += ms;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

const toJob = (item: Record<string, unknown>) => ({ id: item.id, ownerKey: item.ownerKey }) as Job;
const ascending = (limit: number, after?: string) =>
  ({ ownerKey: OWNER, order: 'asc', limit, ...(after ? { after } : {}) }) as const;

describe('Function: listJobs (DynamoDB)', () => {
  it('lists every job when DynamoDB reads them all', async () => {
    const clock = new ManualClock();
    const { dynamo } = table(3, clock);
    const page = await listJobs(dynamo, 'jobs', ascending(10), toJob, { clock });
    expect(page).toEqual({ jobs: [0, 1, 2].map((index) => expect.objectContaining({ id: `j${index}` })) });
  });

  it('answers no page when the first job DynamoDB would not read comes first (nothing to show before it)', async () => {
    const clock = new ManualClock();
    const { dynamo } = table(3, clock, { unreadable: new Set([keyOf(positionOf(0))]) });

    const listing = listJobs(dynamo, 'jobs', ascending(10), toJob, { clock });

    await expect(listing).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(listing).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503, expose: true });
  });

  it('ends the page before a job DynamoDB would not read, so that its cursor does not pass it', async () => {
    const clock = new ManualClock();
    const unreadable = new Set([keyOf(positionOf(1))]);
    const throttled = table(3, clock, { unreadable });

    const page = await listJobs(throttled.dynamo, 'jobs', ascending(10), toJob, { clock });

    expect(page.jobs.map((job) => job.id)).toEqual(['j0']);
    expect(page.next).toBe(positionOf(0));
    // Asked again with backoff, five requests in all, then given up on.
    expect(throttled.batchGets()).toBe(5);
    // Once the table reads again, the cursor leads on to the job left out.
    unreadable.clear();
    const rest = await listJobs(throttled.dynamo, 'jobs', ascending(10, page.next), toJob, { clock });
    expect(rest.jobs.map((job) => job.id)).toEqual(['j1', 'j2']);
    expect(rest.next).toBeUndefined();
  });

  it('stops asking again for unread jobs once its time budget has passed', async () => {
    const clock = new ManualClock();
    const slow = table(3, clock, { unreadable: new Set([keyOf(positionOf(0))]), requestMs: 3_000 });

    await expect(listJobs(slow.dynamo, 'jobs', ascending(10), toJob, { clock })).rejects.toBeInstanceOf(
      ServiceUnavailableError,
    );
    // The query and the first read took 6 s of the 7 s budget: one retry started before it ran out.
    expect(slow.batchGets()).toBe(2);
  });

  it('answers a short page with a cursor when the table is slow, instead of outliving the request', async () => {
    const clock = new ManualClock();
    const started = clock.now();
    const slow = table(1_000, clock, { requestMs: 2_000 });

    const page = await listJobs(slow.dynamo, 'jobs', ascending(500), toJob, { clock });

    // Rounds of 100 jobs, each a read of 2 s (and a query every other round): no round starts
    // after the budget, so the request ends within one round of it.
    expect(clock.now() - started).toBeLessThanOrEqual(LIST_TIME_BUDGET_MS + 2 * 2_000);
    expect(page.jobs.length).toBeGreaterThan(0);
    expect(page.jobs.length).toBeLessThan(500);
    expect(page.next).toBe(positionOf(page.jobs.length - 1));
    // Following the cursor lists the rest, each job once.
    const seen = page.jobs.map((job) => job.id);
    for (let next = page.next; next; ) {
      const more = await listJobs(slow.dynamo, 'jobs', ascending(500, next), toJob, { clock });
      seen.push(...more.jobs.map((job) => job.id));
      next = more.next;
    }
    expect(seen).toEqual(Array.from({ length: 1_000 }, (_, index) => idOf(positionOf(index))));
  });
});
