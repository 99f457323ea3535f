import { AsyncLocalStorage } from 'node:async_hooks';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { TABLE } from '../contract/table.ts';
import { DynamoAdmissionStore } from '../functions/adapters/aws/dynamo-admission.ts';
import { DynamoJobStore } from '../functions/adapters/aws/dynamo-job-store.ts';
import { startMotoServer } from '../local/moto-server.ts';
import { startLocalPipeline } from '../local/pipeline.ts';
import { round } from './lib/stats.ts';

/*
 * DynamoDB capacity per job, counted where it is spent: a few jobs go through the local pipeline
 * (the real handlers and store adapters on moto, the simulator running each job for a few status
 * calls), and every DynamoDB request the functions send is seen in-process, at the SDK's HTTP
 * handler. For each write the item is read (outside the count) before and after, and sized by
 * DynamoDB's rules; on-demand bills max(before, after) rounded up to 1 KB per write unit, twice
 * that in a transaction, and 4 KB per read unit for a strongly consistent read (half for an
 * eventually consistent one). Every global secondary index (all KEYS_ONLY) whose key the write
 * adds, removes or changes costs one more write unit per index entry written (a changed key: a
 * delete and a put). A refused conditional write is billed too, at the item's size, and counted
 * as refused. A write made by the job store is named by its lifecycle transition, one on the
 * admission record by its operation. One job runs first, outside the count: what a table writes
 * once in its life is not a job's cost.
 */

/** The table's global secondary indexes, by their key attributes (projection KEYS_ONLY). */
const INDEXES: { name: string; keys: string[] }[] = [
  TABLE.sweepIndex,
  TABLE.waitingIndex,
  ...Object.values(TABLE.listIndexes),
].map((index) => ({ name: index.name, keys: [index.partitionKey, index.sortKey] }));

/** Index entries a write puts or deletes (each ≤ 1 KB: one write unit). */
export function indexWrites(
  before: Record<string, AttributeValue> | undefined,
  after: Record<string, AttributeValue> | undefined,
): number {
  let writes = 0;
  for (const index of INDEXES) {
    const keyOf = (item: Record<string, AttributeValue> | undefined) =>
      item && index.keys.every((key) => item[key] !== undefined)
        ? JSON.stringify(index.keys.map((key) => item[key]))
        : undefined;
    const was = keyOf(before);
    const is = keyOf(after);
    if (was === is) continue;
    writes += (was === undefined ? 0 : 1) + (is === undefined ? 0 : 1);
  }
  return writes;
}

/** How DynamoDB sizes an item: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html */
export function itemBytes(item: Record<string, AttributeValue>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) bytes += Buffer.byteLength(name) + valueBytes(value);
  return bytes;
}

function valueBytes(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) return numberBytes(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS) return value.SS.reduce((sum, s) => sum + Buffer.byteLength(s), 0);
  if (value.NS) return value.NS.reduce((sum, n) => sum + numberBytes(n), 0);
  if (value.L) return 3 + value.L.reduce((sum, element) => sum + 1 + valueBytes(element), 0);
  if (value.M) {
    const entries = Object.entries(value.M);
    return 3 + entries.reduce((sum, [key, v]) => sum + 1 + Buffer.byteLength(key) + valueBytes(v), 0);
  }
  return 0;
}

/** "Approximately 1 byte per two significant digits, plus 1 byte". */
function numberBytes(n: string): number {
  const digits =
    n
      .replace(/^-/, '')
      .replace(/[.eE].*$/, '')
      .replace(/^0+/, '').length || 1;
  return Math.ceil(digits / 2) + 1;
}

export interface WriteTally {
  /** The lifecycle transition (job store writes), else `operation (item kind)`. */
  name: string;
  writes: number;
  wru: number;
  /** Of `wru`, what the indexes cost. */
  indexWru: number;
  /** Of `writes`, those whose condition failed (billed all the same). */
  refused: number;
  meanItemBytes: number;
  maxItemBytes: number;
}

export interface DynamoUnitsResult {
  jobs: number;
  /** Poller status calls per job in this run (heartbeat-kind writes). */
  statusCallsPerJob: number;
  wruPerJob: number;
  rruPerJob: number;
  /** Per poll heartbeat: its write and its read, to scale the chain to another number of status calls. */
  wruPerHeartbeat: number;
  rruPerHeartbeat: number;
  meanJobItemBytes: number;
  /** The finished job item's largest attributes (first job), by DynamoDB's sizing. */
  largestAttributes: { name: string; bytes: number }[];
  /** Per transition (or other write), per job. */
  writes: WriteTally[];
  reads: { operation: string; reads: number; rru: number }[];
}

/** Transitions the poller makes once per status call, one of them per poll message. */
const PER_STATUS_CALL = new Set(['heartbeat', 'markRunning', 'handOver']);

const transition = new AsyncLocalStorage<string>();
const bypass = new AsyncLocalStorage<true>();

interface Recorder {
  writes: Map<string, { writes: number; wru: number; indexWru: number; refused: number; bytes: number[] }>;
  reads: Map<string, { reads: number; rru: number }>;
}
let recorder: Recorder | undefined;
let raw: DynamoDBClient | undefined;
let patched = false;

function patch(): void {
  if (patched) return;
  patched = true;
  const store = DynamoJobStore.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const write = store.write!;
  store.write = function (this: unknown, id: unknown, change: unknown) {
    const name = (change as { transition: string }).transition;
    return transition.run(name, () => write.call(this, id, change));
  };
  const create = store.create!;
  store.create = function (this: unknown, ...args: unknown[]) {
    return transition.run('create', () => create.apply(this, args));
  };
  // The admission record's writes, by what they are for (the map's one-off creation apart).
  const admission = DynamoAdmissionStore.prototype as unknown as Record<
    string,
    (...args: unknown[]) => unknown
  >;
  for (const method of ['nextSeq', 'acquire', 'release', 'setLimit', 'addSpend']) {
    const original = admission[method]!;
    admission[method] = function (this: unknown, ...args: unknown[]) {
      return transition.run(`admission.${method}`, () => original.apply(this, args));
    };
  }
  const probe = new DynamoDBClient({ region: 'us-east-1' });
  const prototype = Object.getPrototypeOf(probe.config.requestHandler) as {
    handle(request: { headers: Record<string, string>; body?: unknown }, options?: unknown): Promise<unknown>;
  };
  probe.destroy();
  const original = prototype.handle;
  prototype.handle = async function handle(this: unknown, request, options) {
    const target = request.headers['x-amz-target'] ?? request.headers['X-Amz-Target'];
    if (!recorder || bypass.getStore() || !target?.startsWith('DynamoDB_20120810.')) {
      return original.call(this, request, options);
    }
    const operation = target.slice('DynamoDB_20120810.'.length);
    const body = JSON.parse(String(request.body ?? '{}')) as Record<string, unknown>;
    const keys = writtenKeys(operation, body);
    if (keys.length === 0) {
      const response = await original.call(this, request, options);
      countRead(operation, body);
      return response;
    }
    const before = await Promise.all(keys.map(itemAt));
    const response = await original.call(this, request, options);
    const after = await Promise.all(keys.map(itemAt));
    const factor = operation === 'TransactWriteItems' ? 2 : 1;
    const base = transition.getStore() ?? `${operation} (${keys.map((k) => kindOf(k.key)).join(' + ')})`;
    const name = /if_not_exists\(#holders/.test(String(body.UpdateExpression ?? ''))
      ? 'admission (map created)'
      : base;
    const entry = recorder.writes.get(name) ?? { writes: 0, wru: 0, indexWru: 0, refused: 0, bytes: [] };
    entry.writes += 1;
    // A refused conditional write is billed too (at the item's size), and changes no index.
    if ((response as { response?: { statusCode?: number } }).response?.statusCode === 400) entry.refused += 1;
    keys.forEach((_, index) => {
      const bytes = Math.max(sized(before[index]), sized(after[index]));
      // GSIs are updated after the write, as standard writes, transaction or not.
      const indexed = indexWrites(before[index], after[index]);
      entry.wru += factor * Math.max(1, Math.ceil(bytes / 1024)) + indexed;
      entry.indexWru += indexed;
      entry.bytes.push(bytes);
    });
    recorder.writes.set(name, entry);
    return response;
  };
}

interface ItemKey {
  table: string;
  key: Record<string, AttributeValue>;
}

function writtenKeys(operation: string, body: Record<string, unknown>): ItemKey[] {
  const table = String(body.TableName ?? '');
  switch (operation) {
    case 'UpdateItem':
    case 'DeleteItem':
      return [{ table, key: body.Key as Record<string, AttributeValue> }];
    case 'PutItem':
      return [{ table, key: keyOf(body.Item as Record<string, AttributeValue>) }];
    case 'TransactWriteItems':
      return (body.TransactItems as Record<string, Record<string, unknown>>[]).flatMap((item) => {
        const [kind, spec] = Object.entries(item)[0]!;
        if (kind === 'ConditionCheck') return [];
        const key =
          kind === 'Put'
            ? keyOf(spec.Item as Record<string, AttributeValue>)
            : (spec.Key as Record<string, AttributeValue>);
        return [{ table: String(spec.TableName), key }];
      });
    default:
      return [];
  }
}

/** The table's key is its partition key alone (`pk`): what every item carries. */
function keyOf(item: Record<string, AttributeValue>): Record<string, AttributeValue> {
  return { pk: item.pk! };
}

function kindOf(key: Record<string, AttributeValue>): string {
  return (key.pk?.S ?? '?').split('#')[0] ?? '?';
}

async function itemAt(key: ItemKey): Promise<Record<string, AttributeValue> | undefined> {
  const { Item } = await bypass.run(true, () =>
    raw!.send(new GetItemCommand({ TableName: key.table, Key: key.key, ConsistentRead: true })),
  );
  return Item;
}

const sized = (item: Record<string, AttributeValue> | undefined) => (item ? itemBytes(item) : 0);

function countRead(operation: string, body: Record<string, unknown>): void {
  if (!recorder || !/^(GetItem|Query|Scan|BatchGetItem|TransactGetItems)$/.test(operation)) return;
  // Sized from the answer would need the response body; reads here are of job items, sized on write.
  const consistent = body.ConsistentRead === true;
  const entry = recorder.reads.get(operation) ?? { reads: 0, rru: 0 };
  entry.reads += 1;
  entry.rru += consistent ? 1 : 0.5;
  recorder.reads.set(operation, entry);
}

export interface DynamoUnitsOptions {
  /** @default 4 */
  jobs?: number;
  /** Simulated run time, so that each job sees a few status calls. @default 6 */
  runDelaySeconds?: number;
}

export async function measureDynamoUnits(options: DynamoUnitsOptions = {}): Promise<DynamoUnitsResult> {
  const jobs = options.jobs ?? 4;
  patch();
  const moto = await startMotoServer();
  raw = new DynamoDBClient({
    endpoint: moto.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const pipeline = await startLocalPipeline({
    awsEndpoint: moto.endpoint,
    simulator: { knobs: { queue_delay_s: 0, run_delay_s: options.runDelaySeconds ?? 6 } },
    retryDelaySeconds: 1,
    waitTimeSeconds: 1,
    webConsole: false,
    extraEnv: { POWERTOOLS_LOG_LEVEL: 'ERROR' },
  });
  const submit = async (index: number) => {
    const response = await fetch(`${pipeline.apiUrl}/edits`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        prompt: `cost benchmark edit ${index}: make the cup red`,
        image_urls: ['https://inputs.example.com/cup.png'],
      }),
    });
    const body = (await response.json()) as { id?: string };
    if (response.status !== 202 || !body.id) throw new Error(`submit answered ${response.status}`);
    return body.id;
  };
  try {
    // One job first, outside the count: what a table is written once in its life (the admission
    // record and its map) is not a job's cost.
    await waitUntilSettled(pipeline, [await submit(-1)]);
    recorder = { writes: new Map(), reads: new Map() };
    const ids = await Promise.all(Array.from({ length: jobs }, (_, index) => submit(index)));
    await waitUntilSettled(pipeline, ids);
    const finished = recorder;
    recorder = undefined;
    const finalItems = await Promise.all(
      ids.map((id) => itemAt({ table: pipeline.table, key: { pk: { S: `job#${id}` } } })),
    );
    const finalBytes = finalItems.map(sized);
    const largestAttributes = Object.entries(finalItems[0] ?? {})
      .map(([name, value]) => ({ name, bytes: Buffer.byteLength(name) + valueBytes(value) }))
      .sort((a, b) => b.bytes - a.bytes)
      .slice(0, 60);
    const writes = [...finished.writes.entries()]
      .map(([name, entry]) => ({
        name,
        writes: round(entry.writes / jobs, 2),
        wru: round(entry.wru / jobs, 2),
        indexWru: round(entry.indexWru / jobs, 2),
        refused: round(entry.refused / jobs, 2),
        meanItemBytes: Math.round(entry.bytes.reduce((a, b) => a + b, 0) / Math.max(1, entry.bytes.length)),
        maxItemBytes: Math.max(0, ...entry.bytes),
      }))
      .sort((a, b) => b.wru - a.wru);
    const reads = [...finished.reads.entries()].map(([operation, entry]) => ({
      operation,
      reads: round(entry.reads / jobs, 2),
      rru: round(entry.rru / jobs, 2),
    }));
    const heartbeats = writes.filter((w) => PER_STATUS_CALL.has(w.name));
    const statusCalls = heartbeats.reduce((sum, w) => sum + w.writes, 0);
    const beat = writes.find((w) => w.name === 'heartbeat');
    return {
      jobs,
      statusCallsPerJob: round(statusCalls, 2),
      wruPerJob: round(
        writes.reduce((sum, w) => sum + w.wru, 0),
        2,
      ),
      rruPerJob: round(
        reads.reduce((sum, r) => sum + r.rru, 0),
        2,
      ),
      wruPerHeartbeat: beat ? round(beat.wru / beat.writes, 2) : 1,
      // The poller reads the job (consistently) once per poll message.
      rruPerHeartbeat: 1,
      meanJobItemBytes: Math.round(finalBytes.reduce((a, b) => a + b, 0) / jobs),
      largestAttributes,
      writes,
      reads,
    };
  } finally {
    recorder = undefined;
    await pipeline.stop();
    raw.destroy();
    await moto.stop();
  }
}

/** Waits until every job has ended and the pipeline has nothing left to do (notifications sent). */
async function waitUntilSettled(
  pipeline: Awaited<ReturnType<typeof startLocalPipeline>>,
  ids: string[],
): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    // Read straight from the table, outside the count (the API would count as the jobs function's reads).
    const statuses = await Promise.all(
      ids.map(
        async (id) => (await itemAt({ table: pipeline.table, key: { pk: { S: `job#${id}` } } }))?.status?.S,
      ),
    );
    if (statuses.every((status) => ['succeeded', 'failed', 'cancelled', 'expired'].includes(status ?? ''))) {
      await pipeline.drain({ timeoutMs: 60_000 });
      return;
    }
    if (Date.now() > deadline) throw new Error(`jobs did not end: ${statuses.join(', ')}`);
    await new Promise((wake) => setTimeout(wake, 500));
  }
}
