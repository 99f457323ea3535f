/**
 * The one definition of the pipeline's resources that both the CDK construct and the local
 * runtime read, so that what runs on a laptop cannot drift from what is deployed: function
 * entries and sizes, HTTP routes, queues with their redrive, and which queue drives which
 * function. Pure data: no CDK and no AWS SDK imports, so the local runtime stays light.
 */

export type FunctionName = 'submit' | 'jobs' | 'poller' | 'result' | 'webhook' | 'sweeper' | 'batch';

export interface FunctionDefinition {
  /** Handler module, relative to the repository root; it exports `handler`. */
  entry: string;
  description: string;
  memoryMb: number;
  timeoutSeconds: number;
  /** Node/V8 flags the function runs with, beyond the stack's own (added to `NODE_OPTIONS`). */
  nodeOptions?: readonly string[];
}

export const FUNCTIONS: Record<FunctionName, FunctionDefinition> = {
  submit: {
    entry: 'functions/submit/handler.ts',
    description: 'Validates an edit request, records the job and starts its poll chain',
    memoryMb: 512,
    // API Gateway waits at most 30 s for an integration.
    timeoutSeconds: 29,
  },
  jobs: {
    entry: 'functions/jobs/handler.ts',
    description:
      'Lists, reads, cancels and deletes jobs and batches, accepts batches, and hands out presigned uploads',
    memoryMb: 256,
    timeoutSeconds: 29,
  },
  poller: {
    entry: 'functions/poller/handler.ts',
    description: 'Submits a job to RunComfy and polls it with backoff until it ends or its deadline passes',
    memoryMb: 256,
    timeoutSeconds: 90,
  },
  result: {
    entry: 'functions/result/handler.ts',
    description: 'Copies a finished job’s images into S3 and sends the completion notification',
    // A copy streams in constant memory (its peak RSS grows by ≤ 20 MiB for 4 × 100 MiB outputs:
    // `npm run bench -- --only copy`), and its time is the network's: 1,024 MB only doubled the
    // GB-seconds, the largest Lambda line of the cost model.
    memoryMb: 512,
    // Its longest path ends with a batch job's count in its batch and the batch's completion check.
    timeoutSeconds: 135,
    // A copy streams its outputs through short-lived Buffers that only a scavenge frees: a 1 MiB
    // young generation collects them every few MiB copied, where the default (16 MiB semi-spaces)
    // let ~64 MiB pile up and grew the peak with the output's size (`npm run bench -- copy`).
    nodeOptions: ['--max-semi-space-size=1'],
  },
  webhook: {
    entry: 'functions/webhook/handler.ts',
    description: 'Delivers a finished job’s signed completion webhook, retrying with backoff for a day',
    memoryMb: 256,
    // A batch's POSTs run in parallel, each cut off after 10 s.
    timeoutSeconds: 40,
  },
  sweeper: {
    entry: 'functions/sweeper/handler.ts',
    description: 'On a schedule, ends active jobs well past their deadline whose poll chain has stopped',
    memoryMb: 256,
    timeoutSeconds: 120,
  },
  batch: {
    entry: 'functions/batch/handler.ts',
    description:
      'Validates a batch’s manifest, creates its jobs chunk by chunk, cancels it, and writes its results manifest',
    // Validating 50,000 lines is CPU work; more memory is more CPU on Lambda.
    memoryMb: 1024,
    timeoutSeconds: 300,
  },
};

export interface RouteDefinition {
  method: 'GET' | 'POST' | 'DELETE';
  /** API Gateway v2 route path, with `{name}` path parameters. */
  path: string;
  function: FunctionName;
}

export const ROUTES: RouteDefinition[] = [
  { method: 'POST', path: '/edits', function: 'submit' },
  { method: 'GET', path: '/edits', function: 'jobs' },
  { method: 'GET', path: '/edits/{id}', function: 'jobs' },
  { method: 'DELETE', path: '/edits/{id}', function: 'jobs' },
  { method: 'POST', path: '/edits/{id}/cancel', function: 'jobs' },
  { method: 'POST', path: '/uploads', function: 'jobs' },
  { method: 'POST', path: '/edits/{id}/notifications/resend', function: 'jobs' },
  { method: 'POST', path: '/batches', function: 'jobs' },
  { method: 'GET', path: '/batches/{id}', function: 'jobs' },
  { method: 'POST', path: '/batches/{id}/cancel', function: 'jobs' },
  { method: 'GET', path: '/openapi.json', function: 'jobs' },
];

export type QueueName = 'submit' | 'poll' | 'result' | 'webhook' | 'batch';

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
  /**
   * A batch's steps: validate its manifest, create one chunk of its jobs, cancel it, write its
   * results. One message at a time per invocation: each is seconds of work.
   */
  batch: {
    consumer: 'batch',
    maxReceiveCount: 5,
    batchSize: 1,
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

/**
 * The safety net behind the queues. Every job that may need looking after is in the table's
 * sweep index with the time it is due (see `TABLE.sweepIndex`): an active job whose poll chain
 * stopped (due its deadline plus a grace), a finished run whose collection stalled, a finished job
 * whose notification never went out. Runs every `scheduleMinutes`.
 */
export const SWEEPER = {
  scheduleMinutes: 5,
  /** Jobs looked after per run at most; the next run takes the rest. */
  batchLimit: 200,
} as const;
