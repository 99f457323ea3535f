import { FUNCTIONS, type FunctionName } from './resources.ts';

/**
 * Time budgets: how long each outbound call may take, per function, and the worst case of each
 * function's longest path. The functions build their RunComfy and AWS clients from these very
 * numbers, and a test holds every worst case well inside the function's timeout (and the timeout
 * inside its queue's visibility timeout), so that no path answers 500 or is redelivered because
 * a retry outlived the invocation.
 */

/** Every AWS SDK client: bounded attempts, each bounded in time (the SDK's own defaults are not). */
export const AWS_CALLS = {
  maxAttempts: 2,
  connectionTimeoutMs: 1_000,
  requestTimeoutMs: 2_000,
  /** The SDK's standard retry waits at most this long before its second attempt. */
  maxRetryDelayMs: 200,
} as const;

/**
 * The per-request bound against an emulator (`AWS_ENDPOINT_URL` set: the local runtime, tests):
 * moto is one Python process, and under load it answers in seconds where AWS answers in
 * milliseconds. Deployed functions never have an endpoint set, so their budgets are unchanged.
 */
export const EMULATOR_REQUEST_TIMEOUT_MS = 15_000;

/** S3 transfers of output images carry megabytes per request: a longer per-request bound. */
export const S3_TRANSFER_REQUEST_TIMEOUT_MS = 20_000;

/** One attempt of the server-side copy of a batch manifest (up to 50 MiB) into the batch's own files. */
export const MANIFEST_COPY_TIMEOUT_MS = 30_000;

/** The whole streamed read and line-by-line validation of a batch manifest (one attempt, then aborted). */
export const MANIFEST_READ_TIMEOUT_MS = 60_000;

/** How the RunComfy client times out and retries, as `RunComfyClientOptions` takes it. */
export interface RunComfyTiming {
  /** Whole-exchange timeout of the submit POST (never retried: a repeat could pay twice). */
  submitTimeoutMs: number;
  /** Whole-exchange timeout of each status/result/cancel attempt. */
  getTimeoutMs: number;
  maxGetAttempts: number;
  maxCancelAttempts: number;
  /** Ceiling of one backoff sleep; a longer Retry-After is handed back to the caller instead. */
  maxBackoffMs: number;
}

/** Per function: only the functions that call RunComfy have an entry. */
export const RUNCOMFY_TIMING: Partial<Record<FunctionName, RunComfyTiming>> = {
  // The poller submits (once per attempt) and polls; a submit that outlives 25 s is reported
  // `outcome_unknown` and never repeated, so the timeout is generous.
  poller: {
    submitTimeoutMs: 25_000,
    getTimeoutMs: 5_000,
    maxGetAttempts: 2,
    maxCancelAttempts: 2,
    maxBackoffMs: 2_000,
  },
  result: {
    submitTimeoutMs: 1_000,
    getTimeoutMs: 5_000,
    maxGetAttempts: 2,
    maxCancelAttempts: 1,
    maxBackoffMs: 2_000,
  },
  // A cancel over HTTP: API Gateway waits at most 30 s for the whole request.
  jobs: {
    submitTimeoutMs: 1_000,
    getTimeoutMs: 3_000,
    maxGetAttempts: 1,
    maxCancelAttempts: 2,
    maxBackoffMs: 1_000,
  },
  sweeper: {
    submitTimeoutMs: 1_000,
    getTimeoutMs: 5_000,
    maxGetAttempts: 2,
    maxCancelAttempts: 2,
    maxBackoffMs: 2_000,
  },
  // Cancelling a batch cancels its jobs still queued at RunComfy too (a few: admission bounds them).
  batch: {
    submitTimeoutMs: 1_000,
    getTimeoutMs: 3_000,
    maxGetAttempts: 1,
    maxCancelAttempts: 2,
    maxBackoffMs: 1_000,
  },
};

/**
 * `GET /edits`: after this long a request starts no further round of reads (an index query and a
 * `BatchGetItem`) and answers what it has examined with a cursor. A slow or throttling table thus
 * shortens the page instead of outliving API Gateway's 30 s (see `LIST_PATH`).
 */
export const LIST_TIME_BUDGET_MS = 7_000;

/**
 * The list's worst case around its time budget: the cursor key (Secrets Manager, once per
 * instance) before it, and the round of reads started just before the budget ran out after it.
 */
export const LIST_PATH: readonly Step[] = ['aws', 'aws', 'aws'];

/** Budget of one completion webhook POST. */
export const WEBHOOK_POST_TIMEOUT_MS = 10_000;

/** Budget of one output's download (streamed into S3 as it arrives). */
export const OUTPUT_DOWNLOAD_TIMEOUT_MS = 45_000;

/** One step of a path: an AWS call, a RunComfy call, or another bounded wait. */
export type Step =
  | 'aws'
  | 'runcomfy.submit'
  | 'runcomfy.read'
  | 'runcomfy.cancel'
  | 'webhook.post'
  | 'outputs.copy'
  | 'manifest.copy'
  | 'manifest.read'
  | 's3.transfer';

/**
 * The longest sequential path of each function, in external calls (parallel calls count once).
 * Kept next to the numbers it is checked with; each function's module names its path in a comment.
 */
export const LONGEST_PATH: Record<FunctionName, readonly Step[]> = {
  // validate, record the job (+ idempotency key), queue the first heartbeat
  submit: ['aws', 'aws'],
  // cancel: read, RunComfy cancel, finish, queue the notification ∥ queue the slot's release
  // (a dispatch, a dozen calls, runs in the poller); a delete: read, tombstone, list the outputs,
  // delete them ∥ the event (a delete refused by a racing one reads again: a fifth call);
  // a batch (POST /batches) is shorter: spend cap, record (+ idempotency key), inline lines to S3, queue
  jobs: ['aws', 'runcomfy.cancel', 'aws', 'aws'],
  // deadline heartbeat: read, status, cancel, finish, SNS ∥ EventBridge, webhook queue, (a batch
  // job's: count it in its chunk, record the chunk ended, queue the batch's completion,) mark notified;
  // the submission heartbeat is shorter: read, claim, submit, record (retried twice more), announce, next heartbeat
  poller: ['aws', 'runcomfy.read', 'runcomfy.cancel', 'aws', 'aws', 'aws', 'aws', 'aws', 'aws', 'aws'],
  // read, take the collection lease, result, copy, finish, SNS ∥ EventBridge, webhook queue, (a
  // batch job's: count it, record its chunk ended, queue the batch's completion,) mark notified
  result: ['aws', 'aws', 'runcomfy.read', 'outputs.copy', 'aws', 'aws', 'aws', 'aws', 'aws', 'aws', 'aws'],
  // read, claim the attempt, POST, record the outcome, queue the retry (a batch's POSTs run in parallel)
  webhook: ['aws', 'aws', 'webhook.post', 'aws', 'aws'],
  // one job (the sweeper stops taking jobs when less than this is left): read, status, cancel,
  // finish, SNS ∥ EventBridge, webhook queue, (a batch job's three,) mark notified; plus the index query before
  sweeper: [
    'aws',
    'aws',
    'runcomfy.read',
    'runcomfy.cancel',
    'aws',
    'aws',
    'aws',
    'aws',
    'aws',
    'aws',
    'aws',
  ],
  // validation: read the batch, size the manifest, copy it, stream and validate it, write the
  // invalid lines, record the plan, queue the chunks (in parallel). The other steps stop taking
  // work when less than one unit of it is left and queue the rest (see `BATCH_STEP_UNIT`).
  batch: ['aws', 'aws', 'manifest.copy', 'manifest.read', 's3.transfer', 'aws', 'aws'],
};

/**
 * Open-ended steps, whose length depends on the data: what each unit of work takes, and what
 * the step needs after its last unit. Such a step starts another unit only while both fit in
 * what is left of the invocation, and queues the rest. The batch function's: a group of a chunk's
 * jobs made, a job cancelled (queued at RunComfy: a cancel there), a page of a batch's jobs read;
 * then the results written, the notification, the record, a message for the rest.
 */
export const UNIT_OF_WORK: Partial<Record<FunctionName, { unit: readonly Step[]; tail: readonly Step[] }>> = {
  batch: { unit: ['aws', 'runcomfy.cancel', 'aws', 'aws'], tail: ['s3.transfer', 'aws', 'aws', 'aws'] },
};

/** What a unit of `fn`'s open-ended work needs left in the invocation to be started (0: none). */
export function unitBudgetMs(fn: FunctionName): number {
  const work = UNIT_OF_WORK[fn];
  return work ? worstCaseMs(fn, work.unit) + worstCaseMs(fn, work.tail) : 0;
}

/** Worst case of one AWS call: every attempt times out, with the retry wait between. */
export function awsCallWorstMs(requestTimeoutMs: number = AWS_CALLS.requestTimeoutMs): number {
  return (
    AWS_CALLS.maxAttempts * (AWS_CALLS.connectionTimeoutMs + requestTimeoutMs) +
    (AWS_CALLS.maxAttempts - 1) * AWS_CALLS.maxRetryDelayMs
  );
}

function runComfyWorstMs(timing: RunComfyTiming, step: Step): number {
  if (step === 'runcomfy.submit') return timing.submitTimeoutMs;
  const attempts = step === 'runcomfy.cancel' ? timing.maxCancelAttempts : timing.maxGetAttempts;
  return attempts * timing.getTimeoutMs + (attempts - 1) * timing.maxBackoffMs;
}

/** The worst case of `fn`'s longest path (or of `steps` it takes), in milliseconds. */
export function worstCaseMs(fn: FunctionName, steps: readonly Step[] = LONGEST_PATH[fn]): number {
  const timing = RUNCOMFY_TIMING[fn];
  return steps.reduce((total, step) => {
    switch (step) {
      case 'aws':
        return total + awsCallWorstMs();
      case 'webhook.post':
        return total + WEBHOOK_POST_TIMEOUT_MS;
      case 'outputs.copy':
        // Downloads run in parallel, each streamed into S3; a failure then deletes what was written.
        return total + OUTPUT_DOWNLOAD_TIMEOUT_MS + awsCallWorstMs();
      case 'manifest.copy':
        return total + awsCallWorstMs(MANIFEST_COPY_TIMEOUT_MS);
      case 'manifest.read':
        return total + MANIFEST_READ_TIMEOUT_MS;
      case 's3.transfer':
        return total + awsCallWorstMs(S3_TRANSFER_REQUEST_TIMEOUT_MS);
      default:
        if (!timing) throw new Error(`${fn} calls RunComfy but has no RUNCOMFY_TIMING entry`);
        return total + runComfyWorstMs(timing, step);
    }
  }, 0);
}

/** How long a function may hold a lease it takes (collection, notification): past its own timeout. */
export function leaseMs(fn: FunctionName): number {
  return (FUNCTIONS[fn].timeoutSeconds + 30) * 1000;
}
