import { createHmac, timingSafeEqual } from 'node:crypto';
import * as z from 'zod/mini';
import { CallerReferenceSchema } from '../caller-reference.ts';
import { ValidationError } from '../errors.ts';
import type { JobStore, ListQuery } from '../ports.ts';
import { parseOrThrow } from '../validation.ts';
import { JOB_STATUSES } from './job.ts';
import { type JobView, toJobView } from './job-view.ts';
import { type Caller, ownerKeyOf } from './owner.ts';

export const MAX_LIST_LIMIT = 1_000;
export const DEFAULT_LIST_LIMIT = 50;

const STATUS = `(?:${JOB_STATUSES.join('|')})`;
const STATUS_LIST = new RegExp(`^${STATUS}(?:,${STATUS})*$`);

const isoInstant = z.iso.datetime({
  offset: false,
  error: 'must be an ISO 8601 UTC time, e.g. 2026-06-01T12:00:00Z',
});

/**
 * `GET /edits` query parameters, as API Gateway passes them (a repeated parameter arrives joined
 * by commas, so `status=failed&status=expired` and `status=failed,expired` are the same).
 */
export const ListParamsSchema = z.strictObject({
  status: z.optional(
    z.pipe(
      z
        .string()
        .check(
          z.regex(STATUS_LIST, `each must be one of: ${JOB_STATUSES.join(', ')}`),
          z.describe('One status, or several separated by commas (or the parameter repeated)'),
        ),
      z.transform((value) => value.split(',')),
    ),
  ),
  caller_reference: z.optional(CallerReferenceSchema),
  batch_id: z.optional(z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a batch id'))),
  created_after: z.optional(isoInstant.check(z.describe('Inclusive, ISO 8601 UTC'))),
  created_before: z.optional(
    isoInstant.check(
      z.describe('Exclusive, ISO 8601 UTC; must be later than created_after when both are given'),
    ),
  ),
  sort: z._default(z.enum(['asc', 'desc'], 'must be asc or desc'), 'desc'),
  limit: z._default(
    z.coerce
      .number()
      .check(
        z.int('must be an integer'),
        z.gte(1, 'must be at least 1'),
        z.lte(MAX_LIST_LIMIT, `must be at most ${MAX_LIST_LIMIT}`),
      ),
    DEFAULT_LIST_LIMIT,
  ),
  next_token: z.optional(
    z
      .string()
      .check(
        z.maxLength(2_048),
        z.describe(
          'The `next_token` of the previous page, with the same filters: no other value is accepted',
        ),
      ),
  ),
});

export interface JobList {
  items: JobView[];
  /** Pass as `next_token` for the next page; absent on the last one. */
  next_token?: string;
}

export interface ListDeps {
  store: Pick<JobStore, 'list'>;
  /** The key cursors are signed with (a secret, so a client cannot forge or alter one). */
  cursorKey(): Promise<Buffer>;
}

/**
 * A page of the caller's jobs (every caller's, for an admin), newest first unless `sort=asc`,
 * filtered by status(es), caller reference, batch and creation time. The cursor is opaque and
 * tamper-evident: it carries the position after which the next page starts, signed together with
 * the filters it belongs to, so it cannot be altered or replayed with other filters.
 *
 * @example
 * const page = await listJobs(deps, caller, { status: 'failed', limit: '100' });
 */
export async function listJobs(deps: ListDeps, caller: Caller, params: unknown): Promise<JobList> {
  const parsed = parseOrThrow(ListParamsSchema, params ?? {}, 'list request');
  if (parsed.created_after && parsed.created_before && parsed.created_after >= parsed.created_before) {
    throw new ValidationError('list request is invalid', [
      { path: 'created_before', message: 'must be after created_after' },
    ]);
  }
  const query: ListQuery = {
    ...(caller.admin ? {} : { ownerKey: ownerKeyOf(caller.owner) }),
    ...(parsed.status ? { statuses: parsed.status as ListQuery['statuses'] } : {}),
    ...(parsed.caller_reference ? { callerReference: parsed.caller_reference } : {}),
    ...(parsed.batch_id ? { batchId: parsed.batch_id } : {}),
    ...(parsed.created_after ? { createdAfter: normalise(parsed.created_after) } : {}),
    ...(parsed.created_before ? { createdBefore: normalise(parsed.created_before) } : {}),
    order: parsed.sort,
    limit: parsed.limit,
  };
  const key = await deps.cursorKey();
  const scope = JSON.stringify({ ...query, limit: undefined, caller: caller.owner, admin: caller.admin });
  if (parsed.next_token) query.after = readCursor(key, parsed.next_token, scope);
  const page = await deps.store.list(query);
  return {
    items: page.jobs.map((job) => toJobView(job)),
    ...(page.next ? { next_token: writeCursor(key, page.next, scope) } : {}),
  };
}

/** `2026-06-01T12:00:00Z` and `…00.000Z` are the same instant: stored times have milliseconds. */
function normalise(instant: string): string {
  return new Date(instant).toISOString();
}

function mac(key: Buffer, payload: string): string {
  return createHmac('sha256', key).update(payload).digest('base64url').slice(0, 32);
}

function writeCursor(key: Buffer, position: string, scope: string): string {
  const payload = Buffer.from(JSON.stringify({ v: 1, p: position })).toString('base64url');
  return `${payload}.${mac(key, `${payload}.${scope}`)}`;
}

function readCursor(key: Buffer, token: string, scope: string): string {
  const invalid = () =>
    new ValidationError('list request is invalid', [
      { path: 'next_token', message: 'is not a cursor this listing issued (or its filters changed)' },
    ]);
  const [payload = '', signature = ''] = token.split('.');
  // Compared as bytes: a signature of the right length in characters but not in bytes (`é`) would
  // make timingSafeEqual throw, a 500.
  const given = Buffer.from(signature);
  const expected = Buffer.from(mac(key, `${payload}.${scope}`));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();
  try {
    const { v, p } = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
      v?: number;
      p?: unknown;
    };
    if (v !== 1 || typeof p !== 'string') throw invalid();
    return p;
  } catch {
    throw invalid();
  }
}
