import type { FunctionName, QueueName } from '../definition.ts';

/**
 * What each function may do, in one table: the least privilege the core needs, read straight off
 * its calls. The construct turns each row into explicit IAM statements scoped to the pipeline's
 * own resources (objects only under their prefix); no action is a wildcard.
 *
 * Not listed because the construct grants them by other means: writing to the function's own log
 * group, X-Ray segments (`Tracing.ACTIVE`), consuming its event-source queue (the mapping), and
 * the customer KMS key when one is configured. Being invoked (by the API, or the sweeper by its
 * schedule rule) is the function's resource policy, not its role.
 */
export interface FunctionAccess {
  /**
   * DynamoDB item actions on the jobs table. IAM has no `TransactWriteItems` action: a
   * transaction is authorised by the item actions inside it (submit's create is a transactional
   * Put, its rollback a transactional Delete).
   */
  readonly table: readonly TableAction[];
  /**
   * `dynamodb:Query` on the table's sparse active-jobs index (`TABLE.activeIndex`), granted on
   * the index ARN only: the function can list active jobs but never scan or query the table.
   */
  readonly queriesActiveIndex: boolean;
  /** Queues the function sends messages to. */
  readonly sendsTo: readonly QueueName[];
  /** Object actions under the output prefix of the output bucket. */
  readonly outputs?: readonly ObjectAction[];
  /** Object actions under the upload prefix of the output bucket (presigned upload PUTs). */
  readonly uploads?: readonly ObjectAction[];
  /**
   * Reads `s3://` inputs on the input allowlist: it presigns GETs that RunComfy fetches, and a
   * presigned URL works only while its signer may read the object. The poller too, since it
   * retries submissions whose outcome was unknown.
   */
  readonly readsInputs: boolean;
  /** Reads the RunComfy token secret (every function that calls RunComfy). */
  readonly readsRunComfyToken: boolean;
  /** Reads the webhook signing secret (only the function that signs deliveries). */
  readonly readsWebhookSecret: boolean;
  /** Publishes completion (or failure) notifications to the SNS topic. */
  readonly publishesNotifications: boolean;
  /** Puts completion (or failure) events on the EventBridge bus. */
  readonly putsEvents: boolean;
}

export type TableAction =
  | 'dynamodb:GetItem'
  | 'dynamodb:PutItem'
  | 'dynamodb:UpdateItem'
  | 'dynamodb:DeleteItem';
export type ObjectAction = 's3:GetObject' | 's3:PutObject' | 's3:AbortMultipartUpload' | 's3:DeleteObject';

export const FUNCTION_ACCESS: Record<FunctionName, FunctionAccess> = {
  submit: {
    table: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
    queriesActiveIndex: false,
    // Every function that can end a job starts its webhook delivery (see `ensureNotified`).
    sendsTo: ['poll', 'webhook'],
    readsInputs: true,
    readsRunComfyToken: true,
    readsWebhookSecret: false,
    publishesNotifications: true,
    putsEvents: true,
  },
  jobs: {
    table: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
    queriesActiveIndex: false,
    sendsTo: ['poll', 'webhook'],
    // Presigned GETs of a job's outputs; presigned PUTs of input uploads.
    outputs: ['s3:GetObject'],
    uploads: ['s3:PutObject'],
    readsInputs: false,
    readsRunComfyToken: true,
    readsWebhookSecret: false,
    publishesNotifications: true,
    putsEvents: true,
  },
  poller: {
    table: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
    queriesActiveIndex: false,
    sendsTo: ['poll', 'result', 'webhook'],
    readsInputs: true,
    readsRunComfyToken: true,
    readsWebhookSecret: false,
    publishesNotifications: true,
    putsEvents: true,
  },
  result: {
    table: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
    queriesActiveIndex: false,
    sendsTo: ['webhook'],
    // Upload (multipart, aborted on failure), an in-place CopyObject to set checksummed
    // metadata (Get + Put on the same key), and DeleteObjects of partial outputs.
    outputs: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:DeleteObject'],
    readsInputs: false,
    readsRunComfyToken: true,
    readsWebhookSecret: false,
    publishesNotifications: true,
    putsEvents: true,
  },
  webhook: {
    table: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
    queriesActiveIndex: false,
    // A failed attempt queues the next one, with a delay.
    sendsTo: ['webhook'],
    readsInputs: false,
    readsRunComfyToken: false,
    readsWebhookSecret: true,
    publishesNotifications: false,
    putsEvents: false,
  },
  sweeper: {
    // Lists overdue active jobs from the index, then ends each with conditional item updates.
    table: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
    queriesActiveIndex: true,
    // A run that has ended goes to the result function; an expired job starts its webhook.
    sendsTo: ['result', 'webhook'],
    readsInputs: false,
    // Checks the run's status upstream, and cancels it before expiring the job.
    readsRunComfyToken: true,
    readsWebhookSecret: false,
    publishesNotifications: true,
    putsEvents: true,
  },
};

/** Actions on a customer-managed key, when one encrypts the table, queues, topic and bucket. */
export const CUSTOMER_KEY_ACTIONS = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'] as const;
