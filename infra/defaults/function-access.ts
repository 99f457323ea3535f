import type { FunctionName, QueueName } from '../definition.ts';

/**
 * What each function may do, in one table: the least privilege the core needs, read straight off
 * its calls. The construct turns each row into explicit IAM statements scoped to the pipeline's
 * own resources (objects only under the output prefix); nothing here is a wildcard.
 *
 * Not listed because the construct grants them by other means: writing to the function's own log
 * group, X-Ray segments (`Tracing.ACTIVE`), consuming its event-source queue (the mapping), and
 * the customer KMS key when one is configured.
 */
export interface FunctionAccess {
  /**
   * DynamoDB item actions on the jobs table. IAM has no `TransactWriteItems` action: a
   * transaction is authorised by the item actions inside it (submit's create is a transactional
   * Put, its rollback a transactional Delete).
   */
  readonly table: readonly TableAction[];
  /** Queues the function sends messages to. */
  readonly sendsTo: readonly QueueName[];
  /** Output objects under the prefix: `read` to presign GETs, `write` to copy images in. */
  readonly outputs?: 'read' | 'write';
  /** Reads the RunComfy token secret (every function that calls RunComfy). */
  readonly readsRunComfyToken: boolean;
  /** Publishes completion (or failure) notifications to the SNS topic. */
  readonly publishesNotifications: boolean;
  /** Puts completion (or failure) events on the EventBridge bus. */
  readonly putsEvents: boolean;
}

export type TableAction = 'dynamodb:GetItem' | 'dynamodb:PutItem' | 'dynamodb:UpdateItem' | 'dynamodb:DeleteItem';

export const OUTPUT_ACTIONS = {
  read: ['s3:GetObject'],
  // Multipart uploads (lib-storage) need only PutObject, plus Abort to clean up after a failure.
  write: ['s3:PutObject', 's3:AbortMultipartUpload'],
} as const;

export const FUNCTION_ACCESS: Record<FunctionName, FunctionAccess> = {
  submit: {
    table: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
    sendsTo: ['poll'],
    readsRunComfyToken: true,
    publishesNotifications: true,
    putsEvents: true,
  },
  jobs: {
    table: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
    sendsTo: ['poll'],
    outputs: 'read',
    readsRunComfyToken: true,
    publishesNotifications: true,
    putsEvents: true,
  },
  poller: {
    table: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
    sendsTo: ['poll', 'result'],
    readsRunComfyToken: true,
    publishesNotifications: true,
    putsEvents: true,
  },
  result: {
    table: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
    sendsTo: [],
    outputs: 'write',
    readsRunComfyToken: true,
    publishesNotifications: true,
    putsEvents: true,
  },
};

/** Actions on a customer-managed key, when one encrypts the table, queues, topic and bucket. */
export const CUSTOMER_KEY_ACTIONS = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'] as const;
