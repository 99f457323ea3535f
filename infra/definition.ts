/**
 * The one definition of the pipeline's resources that both the CDK construct and the local
 * runtime read, so that what runs on a laptop cannot drift from what is deployed: function
 * entries and sizes, HTTP routes, queues with their redrive, and which queue drives which
 * function. Pure data: no CDK and no AWS SDK imports, so the local runtime stays light.
 */

export type FunctionName = 'submit' | 'jobs' | 'poller' | 'result' | 'webhook' | 'sweeper';

export interface FunctionDefinition {
  /** Handler module, relative to the repository root; it exports `handler`. */
  entry: string;
  description: string;
  memoryMb: number;
  timeoutSeconds: number;
}

export const FUNCTIONS: Record<FunctionName, FunctionDefinition> = {
  submit: {
    entry: 'functions/submit/handler.ts',
    description: 'Validates an edit request, records the job and submits it to RunComfy',
    memoryMb: 512,
    timeoutSeconds: 29,
  },
  jobs: {
    entry: 'functions/jobs/handler.ts',
    description: 'Reads and cancels jobs, and hands out presigned uploads for input images',
    memoryMb: 256,
    timeoutSeconds: 15,
  },
  poller: {
    entry: 'functions/poller/handler.ts',
    description: 'Polls RunComfy for a job with backoff until it ends or its deadline passes',
    memoryMb: 256,
    timeoutSeconds: 30,
  },
  result: {
    entry: 'functions/result/handler.ts',
    description: 'Copies a finished job’s images into S3 and sends the completion notification',
    memoryMb: 1024,
    timeoutSeconds: 120,
  },
  webhook: {
    entry: 'functions/webhook/handler.ts',
    description: 'Delivers a finished job’s signed completion webhook, retrying with backoff for a day',
    memoryMb: 256,
    // A batch's POSTs run in parallel, each cut off after 10 s.
    timeoutSeconds: 30,
  },
  sweeper: {
    entry: 'functions/sweeper/handler.ts',
    description: 'On a schedule, ends active jobs well past their deadline whose poll chain has stopped',
    memoryMb: 256,
    timeoutSeconds: 120,
  },
};

export interface RouteDefinition {
  method: 'GET' | 'POST';
  /** API Gateway v2 route path, with `{name}` path parameters. */
  path: string;
  function: FunctionName;
}

export const ROUTES: RouteDefinition[] = [
  { method: 'POST', path: '/edits', function: 'submit' },
  { method: 'GET', path: '/edits/{id}', function: 'jobs' },
  { method: 'POST', path: '/edits/{id}/cancel', function: 'jobs' },
  { method: 'POST', path: '/uploads', function: 'jobs' },
  { method: 'POST', path: '/edits/{id}/notifications/resend', function: 'jobs' },
  { method: 'GET', path: '/openapi.json', function: 'jobs' },
];

export type QueueName = 'submit' | 'poll' | 'result' | 'webhook';

export interface QueueDefinition {
  /** The function this queue drives through an event source mapping. */
  consumer: FunctionName;
  /** Deliveries before a message moves to the DLQ. */
  maxReceiveCount: number;
  batchSize: number;
  maxBatchingWindowSeconds: number;
  /** Upper bound on concurrent invocations by this queue (keeps RunComfy's concurrency in hand). */
  maxConcurrency: number;
  /** DLQ retention: long enough for an operator to notice and redrive. */
  dlqRetentionDays: number;
  retentionDays: number;
}

export const QUEUES: Record<QueueName, QueueDefinition> = {
  /** Event-driven submissions: sent directly, or forwarded by the `Edit Job Requested` rule. */
  submit: {
    consumer: 'submit',
    maxReceiveCount: 5,
    batchSize: 5,
    maxBatchingWindowSeconds: 0,
    maxConcurrency: 5,
    dlqRetentionDays: 14,
    retentionDays: 4,
  },
  poll: {
    consumer: 'poller',
    maxReceiveCount: 5,
    batchSize: 10,
    maxBatchingWindowSeconds: 0,
    maxConcurrency: 10,
    dlqRetentionDays: 14,
    retentionDays: 4,
  },
  result: {
    consumer: 'result',
    maxReceiveCount: 5,
    batchSize: 1,
    maxBatchingWindowSeconds: 0,
    maxConcurrency: 10,
    dlqRetentionDays: 14,
    retentionDays: 4,
  },
  /** Webhook attempts; a failed attempt is re-sent with a delay by the function, not redriven. */
  webhook: {
    consumer: 'webhook',
    maxReceiveCount: 5,
    batchSize: 10,
    maxBatchingWindowSeconds: 0,
    maxConcurrency: 5,
    dlqRetentionDays: 14,
    retentionDays: 4,
  },
};

/** AWS's rule of thumb: a queue's visibility timeout is at least six times its consumer's timeout. */
export function visibilityTimeoutSeconds(queue: QueueName): number {
  return FUNCTIONS[QUEUES[queue].consumer].timeoutSeconds * 6;
}

/** Environment variable names shared by the construct (which sets them) and the functions (which read them). */
export const ENV = {
  jobsTable: 'JOBS_TABLE',
  pollQueueUrl: 'POLL_QUEUE_URL',
  resultQueueUrl: 'RESULT_QUEUE_URL',
  outputBucket: 'OUTPUT_BUCKET',
  outputPrefix: 'OUTPUT_PREFIX',
  topicArn: 'TOPIC_ARN',
  eventBusName: 'EVENT_BUS_NAME',
  runComfyBaseUrl: 'RUNCOMFY_BASE_URL',
  runComfyTokenSecretArn: 'RUNCOMFY_TOKEN_SECRET_ARN',
  runComfyApiToken: 'RUNCOMFY_API_TOKEN',
  jobDeadlineSeconds: 'JOB_DEADLINE_SECONDS',
  maxPollDelaySeconds: 'MAX_POLL_DELAY_SECONDS',
  outputHostAllowlist: 'OUTPUT_HOST_ALLOWLIST',
  outputMaxBytes: 'OUTPUT_MAX_BYTES',
  allowLoopbackHttp: 'ALLOW_LOOPBACK_HTTP_OUTPUTS',
  jobRetentionDays: 'JOB_RETENTION_DAYS',
  uploadPrefix: 'UPLOAD_PREFIX',
  inputS3Allowlist: 'INPUT_S3_ALLOWLIST',
  sweepGraceSeconds: 'SWEEP_GRACE_SECONDS',
  /** Unset: webhooks are off and a request with a `webhook_url` is refused. */
  webhookQueueUrl: 'WEBHOOK_QUEUE_URL',
  /** The webhook function's signing secret: the ARN in AWS, the `whsec_` value in the local runtime. */
  webhookSecretArn: 'WEBHOOK_SECRET_ARN',
  webhookSigningSecret: 'WEBHOOK_SIGNING_SECRET',
  webhookRetryDelaysSeconds: 'WEBHOOK_RETRY_DELAYS_SECONDS',
  webhookRetryWindowSeconds: 'WEBHOOK_RETRY_WINDOW_SECONDS',
} as const;

/** The job table's key layout (one table: job items and idempotency-key items). */
export const TABLE = {
  partitionKey: 'pk',
  ttlAttribute: 'expiresAt',
  /**
   * A sparse index of the jobs still active, by deadline: only active jobs carry `activeShard`
   * (the store removes it with the terminal transition), so the sweeper reads just those.
   */
  activeIndex: { name: 'active-by-deadline', partitionKey: 'activeShard', sortKey: 'deadlineAt' },
} as const;

/**
 * The safety net behind the poll chains. A job's chain drives it to a terminal state; if the
 * chain stops (its message went to a DLQ after repeated handler failures), the sweeper ends the
 * job once it is `graceSeconds` past its deadline: it collects a run that has ended, or cancels
 * it upstream and marks it `expired`, and notifies. Runs every `scheduleMinutes`.
 */
export const SWEEPER = {
  scheduleMinutes: 5,
  graceSeconds: 300,
  /** Jobs ended per run at most; the next run takes the rest. */
  batchLimit: 200,
} as const;

/** Source and detail types of the events the pipeline puts on its EventBridge bus. */
export const EVENTS = {
  source: 'flux-edit-pipeline',
  jobSubmitted: 'Edit Job Submitted',
  jobStarted: 'Edit Job Started',
  jobCompleted: 'Edit Job Completed',
  /** Integrators put this on the bus to submit an edit; `detail` is the edit request. */
  jobRequested: 'Edit Job Requested',
} as const;

/**
 * The Powertools identity every function shares, and the counters the core emits through it.
 * One service name for all functions keeps each counter on a single `service` dimension, so the
 * construct's alarms and dashboard find it without knowing which function emitted it.
 */
export const METRICS = {
  serviceName: 'flux-edit-pipeline',
  namespace: 'FluxEditPipeline',
  jobsAccepted: 'JobsAccepted',
  jobsSucceeded: 'JobsSucceeded',
  jobsFailed: 'JobsFailed',
  lifecycleEventsFailed: 'LifecycleEventsFailed',
  webhooksDelivered: 'WebhooksDelivered',
  webhookAttemptsFailed: 'WebhookAttemptsFailed',
  /** Deliveries given up (retry window over, or a refused URL): worth an alarm. */
  webhooksFailed: 'WebhooksFailed',
  webhooksResent: 'WebhooksResent',
} as const;

/**
 * The rule that turns `Edit Job Requested` events on the bus into submissions (via the submit
 * queue, for retries and a DLQ). Matched on the detail type alone, from any source.
 */
export const SUBMIT_RULE = {
  detailTypes: [EVENTS.jobRequested],
} as const;
