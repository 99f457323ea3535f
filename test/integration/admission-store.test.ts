import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDynamoDocumentClient } from '#adapters/aws/clients';
import { DynamoAdmissionStore } from '#adapters/aws/dynamo-admission';
import { MemoryAdmissionStore } from '#adapters/memory/memory-admission';
import { type MotoServer, startMotoServer } from '../../local/moto-server.ts';
import { createKeyOnlyJobsTable } from '../support/jobs-table.ts';
import { stubAwsEnvFor } from '../support/moto-env.ts';

/**
 * The admission record on DynamoDB (moto, through the real adapter): a release needs no map made
 * first, an instance that has read the map does not write it again, and a batch's chunk reserves
 * its places in line in one update — as the in-memory store does.
 */
let moto: MotoServer;
let client: ReturnType<typeof createDynamoDocumentClient>;
let table = 0;

async function freshTable(): Promise<string> {
  const name = `admission-${++table}`;
  await createKeyOnlyJobsTable(client, name);
  return name;
}

const record = async (name: string) =>
  (
    await client.send(
      new GetItemCommand({ TableName: name, Key: { pk: { S: 'admission#global' } }, ConsistentRead: true }),
    )
  ).Item;

beforeAll(async () => {
  moto = await startMotoServer();
  stubAwsEnvFor(moto.endpoint);
  client = createDynamoDocumentClient();
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await moto?.stop();
});

describe('Admission record on DynamoDB', () => {
  it('gives back a slot no one holds without writing anything, map or not', async () => {
    const name = await freshTable();
    const store = new DynamoAdmissionStore(client, name);
    await expect(store.release('nobody')).resolves.toBeUndefined();
    expect(await record(name)).toBeUndefined();
  });

  it('takes and gives back slots up to the limit; an instance that read the map takes one without making it', async () => {
    const name = await freshTable();
    const first = new DynamoAdmissionStore(client, name);
    expect(await first.acquire(['a'], 2, 1)).toBe(true);
    expect(await first.acquire(['a'], 2, 1)).toBe(false);
    const second = new DynamoAdmissionStore(client, name);
    expect((await second.slots()).holders).toEqual({ a: 1 });
    const sent = vi.spyOn(client, 'send');
    expect(await second.acquire(['b'], 2, 2)).toBe(true);
    expect(sent).toHaveBeenCalledTimes(1);
    sent.mockRestore();
    expect(await second.acquire(['c'], 2, 3)).toBe(false);
    await second.release('a');
    await second.release('a');
    expect((await first.slots()).holders).toEqual({ b: 2 });
  });

  it('takes several slots in one update, all or none, as the in-memory store does', async () => {
    const name = await freshTable();
    const stores = [new DynamoAdmissionStore(client, name), new MemoryAdmissionStore({ all: () => [] })];
    for (const store of stores) {
      expect(await store.acquire(['a', 'b'], 3, 1)).toBe(true);
      // One more than is free, or one already held: none taken.
      expect(await store.acquire(['c', 'd'], 3, 2)).toBe(false);
      expect(await store.acquire(['b', 'c'], 3, 2)).toBe(false);
      expect((await store.slots()).holders).toEqual({ a: 1, b: 1 });
      expect(await store.acquire([], 3, 2)).toBe(true);
      expect(await store.acquire(['c'], 3, 2)).toBe(true);
      expect((await store.slots()).holders).toEqual({ a: 1, b: 1, c: 2 });
    }
  });

  it('reserves a chunk’s places in line in one update, as the in-memory store does', async () => {
    const name = await freshTable();
    const stores = [new DynamoAdmissionStore(client, name), new MemoryAdmissionStore({ all: () => [] })];
    for (const store of stores) {
      expect(await store.nextSeq()).toBe(1);
      expect(await store.nextSeq(100)).toBe(101);
      expect(await store.nextSeq()).toBe(102);
    }
  });
});
