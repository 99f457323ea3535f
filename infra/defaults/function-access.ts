import type { FunctionName, QueueName } from '../../contract/resources.ts';

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
   * `dynamodb:Query` on these of the table's sparse indexes (`TABLE.sweepIndex`, the list indexes),
   * granted on the index ARNs only: the function can read them but never scan or query the table.
   */
  readonly queriesIndexes: readonly ('sweep' | 'list' | 'waiting')[];
  /** Queues the function sends messages to. */
  readonly sendsTo: readonly QueueName[];
  /** Object actions under the output prefix of the output bucket. */
  readonly outputs?: readonly ObjectAction[];
  /** `s3:ListBucket` limited to the output prefix: finding what a failed collection left behind. */
  readonly listsOutputs?: boolean;
  /** Object actions under the upload prefix of the output bucket (presigned upload PUTs). */
  readonly uploads?: readonly ObjectAction[];
  /**
   * Object actions on batches' files (`<output prefix>batches/`): their copies of the lines, their
   * invalid lines and their results manifests.
   */
  readonly batchFiles?: readonly ObjectAction[];
  /**
   * Reads `s3://` inputs on the input allowlist: it presigns GETs that RunComfy fetches, and a
   * presigned URL works only while its signer may read the object (the poller submits).
   */
  readonly readsInputs: boolean;
  /** Reads the RunComfy token secret (every function that calls RunComfy). */
  readonly readsRunComfyToken: boolean;
  /** Reads the webhook signing secret (only the function that signs deliveries). */
  readonly readsWebhookSecret: boolean;
  /** Reads the key list cursors are signed with (only the function that serves `GET /edits`). */
  readsListCursorSecret?: boolean;
  /** Publishes completion (or failure) notifications to the SNS topic. */
  readonly publishesNotifications: boolean;
  /** Puts completion (or failure) events on the EventBridge bus. */
  readonly putsEvents: boolean;
}

export type TableAction =
  | 'dynamodb:BatchGetItem'
  | 'dynamodb:GetItem'
  | 'dynamodb:PutItem'
  | 'dynamodb:UpdateItem'
  | 'dynamodb:DeleteItem';
export type ObjectAction = 's3:GetObject' | 's3:PutObject' | 's3:AbortMultipartUpload' | 's3:DeleteObject';

export const FUNCTION_ACCESS: Record<FunctionName, FunctionAccess> = {
  submit: {
    // A transactional Put of the job and its idempotency key; a Delete of both if the first
    // heartbeat cannot be queued. Refused event-driven requests are failed jobs, announced here.
    table: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
    // A job takes a free slot on arrival only if nobody waits in line ahead of it.
    queriesIndexes: ['waiting'],
    sendsTo: ['poll', 'webhook'],
    readsInputs: false,
    readsRunComfyToken: false,
    readsWebhookSecret: false,
    publishesNotifications: true,
    putsEvents: true,
  },
  jobs: {
    // Lists read the page's jobs by key; a delete puts a tombstone and deletes the idempotency key;
    // a batch is put with its idempotency key.
    table: [
      'dynamodb:GetItem',
      'dynamodb:BatchGetItem',
      'dynamodb:UpdateItem',
      'dynamodb:PutItem',
      'dynamodb:DeleteItem',
    ],
    // A waiting job's place in line.
    queriesIndexes: ['list', 'waiting'],
    // A cancel queues its notification on the result queue and its slot's release for a dispatcher;
    // a resend queues the webhook; a batch its validation, a batch's cancel its cancel step.
    sendsTo: ['poll', 'result', 'webhook', 'batch'],
    // Presigned GETs of a job's outputs (and a batch's results), deleting a deleted job's;
    // presigned PUTs of input uploads; an inline batch's lines, as its manifest.
    outputs: ['s3:GetObject', 's3:DeleteObject'],
    listsOutputs: true,
    uploads: ['s3:PutObject'],
    batchFiles: ['s3:PutObject'],
    readsInputs: false,
    readsRunComfyToken: true,
    readsWebhookSecret: false,
    readsListCursorSecret: true,
    publishesNotifications: false,
    // `Edit Job Deleted`.
    putsEvents: true,
  },
  poller: {
    // A dispatch that finds every slot taken reads the holders' jobs in one batch read.
    table: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:UpdateItem'],
    // Admits the next jobs in line when it gives a slot back (and on nudges).
    queriesIndexes: ['waiting'],
    // An ended batch job that was its batch's last queues the batch's completion (so do result and sweeper).
    sendsTo: ['poll', 'result', 'webhook', 'batch'],
    // It submits: `s3://` inputs are presigned for RunComfy at each attempt.
    readsInputs: true,
    readsRunComfyToken: true,
    readsWebhookSecret: false,
    publishesNotifications: true,
    putsEvents: true,
  },
  result: {
    table: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
    queriesIndexes: [],
    // A failed attempt queues the next one, with a delay.
    sendsTo: ['result', 'webhook', 'batch'],
    // Upload (multipart, aborted on failure), and deleting what a failed collection left.
    outputs: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:DeleteObject'],
    listsOutputs: true,
    readsInputs: false,
    readsRunComfyToken: true,
    readsWebhookSecret: false,
    publishesNotifications: true,
    putsEvents: true,
  },
  webhook: {
    table: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
    queriesIndexes: [],
    // A failed attempt queues the next one, with a delay.
    sendsTo: ['webhook'],
    readsInputs: false,
    readsRunComfyToken: false,
    readsWebhookSecret: true,
    publishesNotifications: false,
    putsEvents: false,
  },
  sweeper: {
    // Lists the due jobs from the index, then acts on each with conditional item updates.
    table: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:UpdateItem'],
    // The due jobs; and the line, to admit what nudges missed.
    queriesIndexes: ['sweep', 'waiting'],
    // A finished run goes (again) to the result function; an ended job starts its webhook; an
    // admitted job gets its first heartbeat; a batch whose step stalled gets it again.
    sendsTo: ['poll', 'result', 'webhook', 'batch'],
    // Deleting what a collection left behind when a job ends without succeeding.
    outputs: ['s3:DeleteObject'],
    listsOutputs: true,
    readsInputs: false,
    // Checks the run's status upstream, and cancels it before expiring the job.
    readsRunComfyToken: true,
    readsWebhookSecret: false,
    publishesNotifications: true,
    putsEvents: true,
  },
  batch: {
    // Makes the lines' jobs (conditional puts), counts them per chunk (conditional updates),
    // reads a batch's jobs by key for its results and its cancel.
    table: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
    // A batch's jobs (by batch, and its owner's running or queued ones).
    queriesIndexes: ['list'],
    // Its own next steps; the lines' jobs in line (a nudge); a cancel's notifications and slots.
    sendsTo: ['batch', 'poll', 'result'],
    // Sizes and copies a caller's manifest from their uploads.
    uploads: ['s3:GetObject'],
    // Its copy of the lines (written by the copy, read chunk by chunk), invalid lines, results.
    batchFiles: ['s3:GetObject', 's3:PutObject'],
    readsInputs: false,
    // Cancelling a batch cancels its jobs still queued at RunComfy.
    readsRunComfyToken: true,
    readsWebhookSecret: false,
    // `Edit Batch Completed`.
    publishesNotifications: true,
    putsEvents: true,
  },
};

/** Actions on a customer-managed key, when one encrypts the table, queues, topic and bucket. */
export const CUSTOMER_KEY_ACTIONS = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'] as const;
