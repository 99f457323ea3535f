import {
  CreateTableCommand,
  DescribeTimeToLiveCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateEventBusCommand,
  DescribeEventBusCommand,
  type EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
  ResourceAlreadyExistsException,
} from '@aws-sdk/client-eventbridge';
import {
  BucketAlreadyOwnedByYou,
  CreateBucketCommand,
  PutBucketCorsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { CreateTopicCommand, type SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueNameExists,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  createDynamoDocumentClient,
  createEventBridgeClient,
  createS3Client,
  createSnsClient,
  createSqsClient,
} from '#adapters/aws/clients';
import {
  EVENTS,
  QUEUES,
  type QueueName,
  SUBMIT_RULE,
  TABLE,
  TABLE_INDEXES,
  visibilityTimeoutSeconds,
} from '../contract/index.ts';

export const DEFAULT_STACK_NAME = 'flux-edit-local';

const DAY_SECONDS = 86_400;

export interface QueueResource {
  url: string;
  arn: string;
}

export interface DrivenQueueResource extends QueueResource {
  dlq: QueueResource;
}

export interface LocalResources {
  stackName: string;
  region: string;
  accountId: string;
  table: string;
  bucket: string;
  topicArn: string;
  eventBusName: string;
  eventBusArn: string;
  queues: Record<QueueName, DrivenQueueResource>;
  /** Queues that only exist locally, so a person or a test can read what the pipeline announced. */
  observers: {
    /** Subscribed to the topic without raw delivery: bodies are SNS envelopes with MessageAttributes. */
    sns: QueueResource;
    /** Target of a rule matching `{ source: [EVENTS.source] }` on the bus: bodies are EventBridge events. */
    events: QueueResource;
  };
}

export interface LocalClients {
  dynamo: DynamoDBDocumentClient;
  sqs: SQSClient;
  s3: S3Client;
  sns: SNSClient;
  events: EventBridgeClient;
}

/**
 * Builds the clients with the same factory the Lambdas use, so the local runtime exercises
 * the endpoint handling (`AWS_ENDPOINT_URL`, S3 path style) that the functions rely on.
 * Call it only after the AWS_* environment points at the emulator.
 */
export function createLocalClients(): LocalClients {
  return {
    dynamo: createDynamoDocumentClient(),
    sqs: createSqsClient(),
    s3: createS3Client(),
    sns: createSnsClient(),
    events: createEventBridgeClient(),
  };
}

export function destroyLocalClients(clients: LocalClients): void {
  for (const client of Object.values(clients)) client.destroy();
}

/**
 * Creates (or finds) every resource the stack defines in infra/definition.ts, plus the local
 * observer queues. Idempotent: running it twice against the same endpoint changes nothing.
 *
 * @example
 * const resources = await createLocalResources(createLocalClients(), { stackName: 'flux-edit-local' });
 * resources.queues.poll.dlq.url;
 */
export async function createLocalResources(
  clients: LocalClients,
  options: { stackName?: string; region: string },
): Promise<LocalResources> {
  const stackName = options.stackName ?? DEFAULT_STACK_NAME;
  const name = (suffix: string) => `${stackName}-${suffix}`;

  const [table, bucket, topicArn, eventBus, queues, snsObserver, eventsObserver] = await Promise.all([
    createTable(clients, name('jobs')),
    createBucket(clients, name('outputs')),
    createTopic(clients, name('job-events')),
    createEventBus(clients, name('bus')),
    createDrivenQueues(clients, name),
    ensureQueue(clients.sqs, name('sns-observer'), {}),
    ensureQueue(clients.sqs, name('events-observer'), {}),
  ]);

  await clients.sns.send(
    new SubscribeCommand({
      TopicArn: topicArn,
      Protocol: 'sqs',
      Endpoint: snsObserver.arn,
      Attributes: { RawMessageDelivery: 'false' },
    }),
  );
  // As in the stack: integrators submit edits by putting `Edit Job Requested` on the bus; a
  // rule forwards the whole event to the submission queue.
  await putRuleToQueue(
    clients,
    eventBus.name,
    name('job-requested'),
    { 'detail-type': [...SUBMIT_RULE.detailTypes] },
    queues.submit,
  );
  await putRuleToQueue(clients, eventBus.name, name('observer'), { source: [EVENTS.source] }, eventsObserver);

  return {
    stackName,
    region: options.region,
    accountId: accountOf(topicArn),
    table,
    bucket,
    topicArn,
    eventBusName: eventBus.name,
    eventBusArn: eventBus.arn,
    queues,
    observers: { sns: snsObserver, events: eventsObserver },
  };
}

async function putRuleToQueue(
  clients: LocalClients,
  eventBusName: string,
  ruleName: string,
  pattern: Record<string, string[]>,
  queue: QueueResource,
): Promise<void> {
  await clients.events.send(
    new PutRuleCommand({
      Name: ruleName,
      EventBusName: eventBusName,
      EventPattern: JSON.stringify(pattern),
      State: 'ENABLED',
    }),
  );
  await clients.events.send(
    new PutTargetsCommand({
      Rule: ruleName,
      EventBusName: eventBusName,
      Targets: [{ Id: 'queue', Arn: queue.arn }],
    }),
  );
}

async function createTable(clients: LocalClients, tableName: string): Promise<string> {
  try {
    await clients.dynamo.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [
          { AttributeName: TABLE.partitionKey, AttributeType: 'S' },
          ...[...new Set(TABLE_INDEXES.flatMap((index) => [index.partitionKey, index.sortKey]))].map(
            (attribute) => ({ AttributeName: attribute, AttributeType: 'S' as const }),
          ),
        ],
        KeySchema: [{ AttributeName: TABLE.partitionKey, KeyType: 'HASH' }],
        // The same sparse, keys-only indexes the construct makes (contract/table.ts).
        GlobalSecondaryIndexes: TABLE_INDEXES.map((index) => ({
          IndexName: index.name,
          KeySchema: [
            { AttributeName: index.partitionKey, KeyType: 'HASH' },
            { AttributeName: index.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        })),
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  const ttl = await clients.dynamo.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
  // Enabling TTL twice is a ValidationException in DynamoDB, hence the check.
  if (ttl.TimeToLiveDescription?.TimeToLiveStatus !== 'ENABLED') {
    await clients.dynamo.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: TABLE.ttlAttribute, Enabled: true },
      }),
    );
  }
  return tableName;
}

async function createBucket(clients: LocalClients, bucket: string): Promise<string> {
  try {
    await clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    if (!(error instanceof BucketAlreadyOwnedByYou)) throw error;
  }
  return bucket;
}

async function createTopic(clients: LocalClients, topicName: string): Promise<string> {
  const { TopicArn } = await clients.sns.send(new CreateTopicCommand({ Name: topicName }));
  return TopicArn!;
}

async function createEventBus(
  clients: LocalClients,
  busName: string,
): Promise<{ name: string; arn: string }> {
  try {
    await clients.events.send(new CreateEventBusCommand({ Name: busName }));
  } catch (error) {
    if (!(error instanceof ResourceAlreadyExistsException)) throw error;
  }
  const { Arn } = await clients.events.send(new DescribeEventBusCommand({ Name: busName }));
  return { name: busName, arn: Arn! };
}

async function createDrivenQueues(
  clients: LocalClients,
  name: (suffix: string) => string,
): Promise<Record<QueueName, DrivenQueueResource>> {
  const entries = await Promise.all(
    (Object.keys(QUEUES) as QueueName[]).map(async (queueName) => {
      const definition = QUEUES[queueName];
      const dlq = await ensureQueue(clients.sqs, name(`${queueName}-dlq`), {
        MessageRetentionPeriod: String(definition.dlqRetentionDays * DAY_SECONDS),
      });
      const queue = await ensureQueue(clients.sqs, name(queueName), {
        VisibilityTimeout: String(visibilityTimeoutSeconds(queueName)),
        MessageRetentionPeriod: String(definition.retentionDays * DAY_SECONDS),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlq.arn,
          maxReceiveCount: definition.maxReceiveCount,
        }),
      });
      return [queueName, { ...queue, dlq }] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<QueueName, DrivenQueueResource>;
}

/** CreateQueue fails when the queue exists with other attributes; then the attributes are updated. */
async function ensureQueue(
  sqs: SQSClient,
  queueName: string,
  attributes: Record<string, string>,
): Promise<QueueResource> {
  let url: string;
  try {
    url = (await sqs.send(new CreateQueueCommand({ QueueName: queueName, Attributes: attributes })))
      .QueueUrl!;
  } catch (error) {
    if (!(error instanceof QueueNameExists)) throw error;
    url = (await sqs.send(new GetQueueUrlCommand({ QueueName: queueName }))).QueueUrl!;
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: attributes }));
  }
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return { url, arn: Attributes!.QueueArn! };
}

/** `arn:aws:sns:us-east-1:123456789012:name` -> `123456789012` */
function accountOf(arn: string): string {
  return arn.split(':')[4] ?? '';
}

/**
 * Lets pages of `origins` (the web console) upload to the bucket with the presigned PUTs of
 * `POST /uploads`: S3 (and moto without its global CORS) refuses a browser's cross-origin PUT
 * unless a CORS rule allows it. Outputs need no rule, as `<img>` loads are not CORS requests.
 * The deployed bucket has no CORS rule: the console is served by the local runtime only.
 */
export async function putConsoleCors(
  s3: S3Client,
  bucket: string,
  origins: readonly string[],
): Promise<void> {
  await s3.send(
    new PutBucketCorsCommand({
      Bucket: bucket,
      CORSConfiguration: {
        CORSRules: [
          {
            AllowedOrigins: [...origins],
            AllowedMethods: ['PUT'],
            // What the upload ticket's signature covers; the browser sets content-length itself.
            AllowedHeaders: ['content-type'],
            MaxAgeSeconds: 600,
          },
        ],
      },
    }),
  );
}
