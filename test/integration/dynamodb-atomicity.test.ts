import {
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ITEM_PREFIX } from '../../contract/index.ts';
import { type MotoServer, startMotoServer } from '../../local/moto-server.ts';
import { type LocalPipeline, startLocalPipeline } from '../../local/pipeline.ts';
import { PNG_INPUT, postEdit } from '../support/pipeline-helpers.ts';

/*
 * DynamoDB applies each conditional write and each transaction atomically: of many concurrent
 * writers that all require a key to be absent, exactly one wins. Plain moto serves requests on
 * concurrent threads and is not atomic (TransactWriteItems snapshots whole tables and restores
 * the snapshot on failure); its larger tables widen the window, so the table is filled first.
 * Against plain moto these rounds let two writers win, lose acknowledged writes or answer 500.
 */
const WRITERS = 10;
const ROUNDS = 15;
const FILLER_ITEMS = 250;

let moto: MotoServer;
let dynamo: DynamoDBClient;
const TableName = 'atomicity';
const key = (pk: string) => ({ pk: { S: pk } });
const absent = { ConditionExpression: 'attribute_not_exists(pk)' };

beforeAll(async () => {
  moto = await startMotoServer();
  dynamo = new DynamoDBClient({
    endpoint: moto.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    // Every request is one attempt: a retried transaction would hide what the first one got.
    maxAttempts: 1,
  });
  await dynamo.send(
    new CreateTableCommand({
      TableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    }),
  );
  for (let first = 0; first < FILLER_ITEMS; first += 25) {
    await dynamo.send(
      new BatchWriteItemCommand({
        RequestItems: {
          [TableName]: Array.from({ length: 25 }, (_, index) => ({
            PutRequest: { Item: { ...key(`filler#${first + index}`), payload: { S: 'x'.repeat(200) } } },
          })),
        },
      }),
    );
  }
});

afterAll(async () => {
  dynamo?.destroy();
  await moto?.stop();
});

/** Runs `write` for every writer at once; which writers succeeded, and every rejection. */
async function race(write: (writer: number) => Promise<unknown>) {
  const settled = await Promise.allSettled(Array.from({ length: WRITERS }, (_, writer) => write(writer)));
  return {
    winners: settled.flatMap((outcome, writer) => (outcome.status === 'fulfilled' ? [writer] : [])),
    rejections: settled.flatMap((outcome) =>
      outcome.status === 'rejected' ? [outcome.reason as Error] : [],
    ),
  };
}

async function stored(pk: string) {
  const { Item } = await dynamo.send(new GetItemCommand({ TableName, Key: key(pk), ConsistentRead: true }));
  return Item;
}

describe('The local moto (through our launcher)', () => {
  it('lets exactly one of many concurrent transactions claim a key, as the job store claims an idempotency key', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      // Prepare: the job store's create(): a fresh job item and the shared key item, both conditional
      const claim = `idem#round-${round}`;
      const jobOf = (writer: number) => `job#round-${round}-writer-${writer}`;

      // Act
      const { winners, rejections } = await race((writer) =>
        dynamo.send(
          new TransactWriteItemsCommand({
            TransactItems: [
              { Put: { TableName, Item: key(jobOf(writer)), ...absent } },
              { Put: { TableName, Item: { ...key(claim), jobId: { S: jobOf(writer) } }, ...absent } },
            ],
          }),
        ),
      );

      // Assess
      expect(winners).toHaveLength(1);
      for (const rejection of rejections) {
        expect(rejection).toBeInstanceOf(TransactionCanceledException);
        const reasons = (rejection as TransactionCanceledException).CancellationReasons ?? [];
        expect(reasons.map((reason) => reason.Code)).toEqual(['None', 'ConditionalCheckFailed']);
      }
      const winner = jobOf(winners[0]!);
      expect((await stored(claim))?.jobId?.S).toBe(winner);
      for (let writer = 0; writer < WRITERS; writer++) {
        expect(await stored(jobOf(writer)), `round ${round}, writer ${writer}`).toEqual(
          jobOf(writer) === winner ? key(winner) : undefined,
        );
      }
    }
  });

  it('lets exactly one of many concurrent conditional puts create an item', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      // Act
      const pk = `put#round-${round}`;
      const { winners, rejections } = await race((writer) =>
        dynamo.send(
          new PutItemCommand({ TableName, Item: { ...key(pk), writer: { N: String(writer) } }, ...absent }),
        ),
      );

      // Assess
      expect(winners).toHaveLength(1);
      for (const rejection of rejections) expect(rejection).toBeInstanceOf(ConditionalCheckFailedException);
      expect((await stored(pk))?.writer?.N).toBe(String(winners[0]));
    }
  });
});

describe('Pipeline: concurrent submits with one Idempotency-Key', () => {
  let pipeline: LocalPipeline;

  beforeAll(async () => {
    pipeline = await startLocalPipeline({
      awsEndpoint: moto.endpoint,
      stackName: 'atomicity-test',
      extraEnv: { POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_METRICS_DISABLED: 'true' },
    });
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('make one job, and every caller is told its id', async () => {
    // Act
    const request = { prompt: 'make the cup red', image_urls: [PNG_INPUT] };
    const answers = await Promise.all(
      Array.from({ length: WRITERS }, () => postEdit(pipeline, request, { 'idempotency-key': 'one-key' })),
    );

    // Assess
    expect(answers.map((answer) => answer.status).sort()).toEqual(Array(WRITERS).fill(202));
    expect(new Set(answers.map((answer) => answer.body.id)).size).toBe(1);
    const { Items = [] } = await dynamo.send(new ScanCommand({ TableName: pipeline.table }));
    const jobs = Items.filter((item) => item.pk?.S?.startsWith(ITEM_PREFIX.job));
    expect(jobs.map((item) => item.pk?.S)).toEqual([`${ITEM_PREFIX.job}${answers[0]?.body.id}`]);
  });
});
