/**
 * What the job core needs from the world, as interfaces. The core depends on these only; the AWS
 * SDK adapters (`functions/adapters/aws/`) implement them for Lambda and the local runtime, the
 * in-memory ones (`functions/adapters/memory/`) for the fast tests that race the core's actors
 * against each other.
 */
import type { MetricName } from '#contract/metrics';
import type { Batch, BatchLineIssue, ChunkTally } from './batches/batch.ts';
import type { BatchMessage } from './batches/messages.ts';
import type { EditInput } from './edit-input.ts';
import type { Job, JobStatus } from './jobs/job.ts';
import type { JobWrite } from './jobs/lifecycle.ts';
import type { PollQueueMessage, ResultMessage } from './jobs/messages.ts';
import type { BatchCompletedEvent } from './notify/batch-events.ts';
import type { LifecycleEvent } from './notify/events.ts';
import type { StoredOutput } from './outputs/stored-output.ts';
import type { CancelOutcome, UpstreamResult, UpstreamStatus } from './runcomfy/index.ts';
import type { WebhookMessage } from './webhooks/webhook-message.ts';

export type { Clock } from './clock.ts';
export type { Log } from './log.ts';

/** Counters and timings the core reports, by their catalogued names (Powertools Metrics in Lambda). */
export interface MetricSink {
  count(name: MetricName, value?: number): void;
  /** A duration in milliseconds. */
  time?(name: MetricName, milliseconds: number): void;
}

export const noMetrics: MetricSink = { count() {} };

export interface IdempotencyClaim {
  key: string;
  /** Hash of the validated request: the same key with another body is refused. */
  fingerprint: string;
}

export type CreateResult =
  | { created: true; job: Job }
  | { created: false; existingJobId: string; fingerprintMatches: boolean };

/** What `JobStore.list` returns a page of, newest first unless `order` is `asc`. */
export interface ListQuery {
  /** Only this owner's jobs (by `ownerKey`); absent: every owner's (admins). */
  ownerKey?: string;
  statuses?: readonly JobStatus[];
  callerReference?: string;
  batchId?: string;
  /** Inclusive. */
  createdAfter?: string;
  /** Exclusive. */
  createdBefore?: string;
  order: 'asc' | 'desc';
  limit: number;
  /** Resume after this position (`<createdAt>#<id>` of the last job of the previous page). */
  after?: string;
}

export interface ListPage {
  jobs: Job[];
  /** Where the next page starts; absent when there is none. */
  next?: string;
}

/** What an id's record holds: the job, or the tombstone of a deleted one. */
export type JobRecord =
  | { job: Job; deleted?: undefined }
  | { job?: undefined; deleted: { ownerKey: string } };

/** Jobs, and the idempotency keys that lead to them. */
export interface JobStore {
  /** Records a new job, and its idempotency key if given, atomically (one wins a race for a key). */
  create(job: Job, idempotency?: IdempotencyClaim): Promise<CreateResult>;
  /** The job an idempotency key already names, read consistently; `undefined` if it names none yet. */
  findByIdempotencyKey(key: string): Promise<{ jobId: string; fingerprint: string } | undefined>;
  /** A strongly consistent read. */
  get(id: string): Promise<Job | undefined>;
  /**
   * Strongly consistent reads of several jobs in as few requests as the store allows: each id read
   * maps to its job, or to `undefined` if there is none. An id the store did not get to (DynamoDB
   * throttled it past a few retries) is left out of the map: not read, which is not "no job".
   */
  getMany(ids: readonly string[]): Promise<Map<string, Job | undefined>>;
  /** Applies a lifecycle write if its condition holds: the job as written, or `undefined` if refused. */
  write(id: string, change: JobWrite): Promise<Job | undefined>;
  /** Removes a job that was never announced (its first heartbeat could not be queued), with its key. */
  discard(job: Job): Promise<void>;
  /** Ids of the jobs the sweeper should look at (`sweepAt` before `cutoff`), most overdue first. */
  listDue(cutoff: string, limit: number): Promise<string[]>;
  /** A page of jobs matching `query`, from indexes (never a scan). */
  list(query: ListQuery): Promise<ListPage>;
  /**
   * Deletes a finished job (and its idempotency key), leaving a tombstone so that a repeated
   * delete is recognised; `false` if the job is not finished (or gone).
   */
  delete(job: Job, deletedAt: string): Promise<boolean>;
  /**
   * One strongly consistent read of the id's record: the job, or the tombstone a delete left
   * (with the deleted job's owner key). One read either way, so a delete costs the same whether
   * the id is unknown, deleted or another caller's.
   */
  lookup(id: string): Promise<JobRecord | undefined>;
}

/**
 * Admission to RunComfy, shared by every function instance: who holds the upstream slots, the
 * current limit (lowered when RunComfy answers 429, raised again as submissions succeed), the
 * line's counter, and what was spent per day. One record, conditional updates only.
 */
export interface AdmissionStore {
  /**
   * The next place in line (strictly increasing); with `count`, reserves that many at once and
   * returns the last of them (a batch's chunk takes its places in one update).
   */
  nextSeq(count?: number): Promise<number>;
  /** The jobs holding slots (job id → when it took the slot, ms) and the current limit. */
  slots(): Promise<{ holders: Record<string, number>; limit: number | undefined }>;
  /**
   * Takes a slot for each of the jobs, all or none: if at most `limit` are then held and none of
   * them holds one yet (one conditional update, however many jobs).
   */
  acquire(jobIds: readonly string[], limit: number, nowMs: number): Promise<boolean>;
  /** Gives the job's slot back (a no-op if it holds none). */
  release(jobId: string): Promise<void>;
  /** Sets the current limit, if it still is `expected` (another instance may have moved it). */
  setLimit(limit: number, expected: number | undefined): Promise<boolean>;
  /** The first `count` jobs waiting in `lane`, in line order. */
  waiting(lane: 'interactive' | 'batch', count: number): Promise<{ jobId: string; waitKey: string }[]>;
  /** USD charged on a UTC day (`YYYY-MM-DD`). */
  spend(day: string): Promise<number>;
  addSpend(day: string, usd: number): Promise<void>;
}

/** The pipeline's own queues. Delays are whole seconds, SQS's unit (0–900). */
export interface JobQueues {
  schedulePoll(message: PollQueueMessage, delaySeconds: number): Promise<void>;
  scheduleResult(message: ResultMessage, delaySeconds?: number): Promise<void>;
  /** Absent where the deployment has no webhook queue (then no job may ask for a webhook). */
  scheduleWebhook?(message: WebhookMessage, delaySeconds?: number): Promise<void>;
  /** Steps of batches (in parallel batches of ten); absent where batches are off. */
  scheduleBatch?(messages: readonly BatchMessage[]): Promise<void>;
}

export type BatchCreateResult =
  | { created: true; batch: Batch }
  | { created: false; existingBatchId: string; fingerprintMatches: boolean };

/** What a batch's validation found, recorded in one write. */
export interface BatchValidation {
  status: 'creating' | 'refused';
  lines: number;
  invalidLines: number;
  errors: BatchLineIssue[];
  error?: { code: string; message: string };
  chunkCount?: number;
}

/**
 * Batches, and the writes that move one along. Each is conditional: `undefined` (or `false`) says
 * the batch was not in the state the write needs (someone got there first, or it is unknown).
 */
export interface BatchStore {
  /** Records a new batch, and its idempotency key if given, atomically. */
  create(batch: Batch, idempotency?: IdempotencyClaim): Promise<BatchCreateResult>;
  /** A strongly consistent read. */
  get(id: string): Promise<Batch | undefined>;
  /** Removes a batch whose first step could not be queued, with its idempotency key. */
  discard(batch: Batch): Promise<void>;
  /** `validating` → `creating` or `refused`, with what validation found. */
  recordValidation(
    id: string,
    outcome: BatchValidation,
    sweepAt: string | undefined,
  ): Promise<Batch | undefined>;
  /**
   * Counts a chunk's jobs as made, once per chunk (a duplicate delivery counts nothing); the
   * batch as it is afterwards, either way.
   */
  recordChunk(id: string, chunk: number, jobs: number, sweepAt: string): Promise<Batch | undefined>;
  /** `creating` → `active`, once every chunk is done. */
  activate(id: string, sweepAt: string): Promise<Batch | undefined>;
  /** Records a cancel, unless the batch already ends (completing, completed, refused). */
  requestCancel(id: string, at: string): Promise<Batch | undefined>;
  /** The completion lease: an active batch, or one whose lease ran out (its holder died). */
  startCompletion(id: string, token: string, untilMs: number, nowMs: number): Promise<Batch | undefined>;
  /** Gives the lease back, `active` again (a job was found still running). */
  releaseCompletion(id: string, token: string): Promise<void>;
  /** `completing` → `completed`, by the lease holder. */
  finishCompletion(id: string, token: string, resultsKey: string, at: string): Promise<Batch | undefined>;
  /** When the sweeper looks at the batch next (`undefined`: never, unless set again). */
  setSweepAt(id: string, sweepAt: string | undefined): Promise<void>;
  /** Ids of batches the sweeper should look at (`sweepAt` before `cutoff`). */
  listDue(cutoff: string, limit: number): Promise<string[]>;
  /** Records a line's job, unless it exists (or existed: a deleted job's tombstone counts). */
  createJob(job: Job): Promise<boolean>;
  /** Starts a chunk's count of ended jobs, knowing how many it makes (a no-op if started). */
  openChunk(batchId: string, chunk: number, jobs: number): Promise<void>;
  /**
   * Counts an ended job of the batch in its chunk (its status, its cost), once per line however
   * often it is asked: the chunk's count as it is afterwards.
   */
  tally(job: Job): Promise<ChunkTally | undefined>;
  /** Records a chunk whose jobs all ended (once): the batch as it is afterwards. */
  markChunkEnded(batchId: string, chunk: number): Promise<Batch | undefined>;
  /** Every chunk's count (read consistently). */
  chunkTallies(batch: Pick<Batch, 'id' | 'chunkCount'>): Promise<ChunkTally[]>;
}

/** The files of batches in the output bucket (`<prefix>batches/<id>/…`), and the callers' manifests. */
export interface BatchFiles {
  /** Size and ETag of an object, `undefined` when there is none. */
  head(location: { bucket: string; key: string }): Promise<{ sizeBytes: number; etag: string } | undefined>;
  /** Copies exactly that version (`etag`) of a caller's manifest into the output bucket at `key`. */
  copy(from: { bucket: string; key: string; etag: string }, key: string): Promise<void>;
  put(
    key: string,
    body: string,
    options?: { contentType?: string; metadata?: Record<string, string> },
  ): Promise<void>;
  /** The object's bytes, or `range` of them (`end` exclusive), as they arrive. */
  read(
    key: string,
    options?: { range?: { start: number; end: number }; signal?: AbortSignal },
  ): AsyncIterable<Uint8Array>;
  /** A short-lived GET URL. */
  presignGet(key: string, expiresInSeconds: number): Promise<string>;
}

/** Where a batch's completion goes: SNS and EventBridge, like a job's. */
export interface BatchNotifier {
  /** Throws if either refuses it (the caller retries). */
  batchCompleted(event: BatchCompletedEvent): Promise<void>;
}

/** The bucket's job outputs. */
export interface OutputStore {
  /** Streams each URL's image into `<prefix><jobId>/<index>.<ext>`; throws `OutputCopyError`. */
  copy(jobId: string, urls: readonly string[]): Promise<StoredOutput[]>;
  /** Deletes every object under the job's prefix except `keep`; returns how many went. */
  deleteJobOutputs(jobId: string, keep?: readonly string[]): Promise<number>;
  /** A short-lived GET URL for a stored output. */
  presignGet(output: Pick<StoredOutput, 'bucket' | 'key'>, expiresInSeconds: number): Promise<string>;
}

/** Short-lived URLs for objects of the stack's buckets (no network call: a signature). */
export interface Presigner {
  get(bucket: string, key: string, expiresInSeconds: number): Promise<string>;
  /** The signature covers the content type and length, so the upload cannot be another file. */
  put(
    bucket: string,
    key: string,
    object: { contentType: string; contentLength: number },
    expiresInSeconds: number,
  ): Promise<string>;
}

/** Where completions and lifecycle events go. */
export interface Notifier {
  /** The completion event, on SNS and EventBridge; throws if either refuses it (the caller retries). */
  completed(job: Job): Promise<void>;
  /** A lifecycle event, on EventBridge only; throws if it is refused (see `announceBestEffort`). */
  announce(event: LifecycleEvent): Promise<void>;
}

/** RunComfy's Model API queue, as `RunComfyClient` speaks it. Every failure is a `RunComfyError`. */
export interface RunComfy {
  submit(input: EditInput): Promise<{ requestId: string }>;
  status(requestId: string): Promise<UpstreamStatus>;
  result(requestId: string): Promise<UpstreamResult>;
  cancel(requestId: string): Promise<CancelOutcome>;
}
