import type { JobScript } from './script.ts';
import type { EditRequest } from './validation.ts';

/** A simulated RunComfy job's states (reference §3.4); terminal states never change. */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

const RANK: Record<JobState, number> = { queued: 0, running: 1, succeeded: 2, failed: 2, cancelled: 2 };

export const isTerminal = (state: JobState): boolean => RANK[state] === 2;

/** Whether `to` is a step back from `from`. */
export const isBackward = (from: JobState, to: JobState): boolean => RANK[to] < RANK[from];

/** An output file as the file host serves it, booked when it is first rendered. */
export interface OutputFileBooks {
  bytes: number;
  /** SHA-256 (hex) of exactly the bytes served. */
  sha256: string;
  /** Complete 200 GET answers (not HEAD, not downloads reset mid-body). */
  downloads: number;
}

export type InputCheck =
  | { status: 'skipped' }
  | { status: 'pending' }
  | { status: 'done'; at: number; problem?: string };

export interface Job {
  readonly id: string;
  /** Submission order: the queue is FIFO by this. */
  readonly seq: number;
  readonly userId: string;
  readonly modelId: string;
  readonly input: EditRequest;
  /** The caller's seed, or the one the simulator picked. */
  readonly seed: number;
  readonly createdAt: number;
  readonly outputCount: number;
  readonly outputMinBytes: number;
  state: JobState;
  startedAt: number | undefined;
  finishedAt: number | undefined;
  /** Snapshotted from the knobs at submit; per-job scripts may change them. */
  queueMs: number;
  runMs: number;
  script: JobScript;
  /** Why the run failed (set once the job is `failed`). */
  failReason: string | undefined;
  /** Polls seen in the current state (`clock_mode: polls`). */
  pollsInState: number;
  chargedUsd: number;
  inputCheck: InputCheck;
  /** The answer to the submit that created it was lost (the socket destroyed after the commit). */
  submitAnswerDropped: boolean;
  /** Its output files by index, once rendered. */
  files: (OutputFileBooks | undefined)[];
}

export interface NewJob {
  userId: string;
  modelId: string;
  input: EditRequest;
  script: JobScript;
}
