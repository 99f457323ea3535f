import { isTerminalStatus, type JobView } from './types.ts';

/** The slice of a stream the reporter writes to; `isTTY` picks the display. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressReporter {
  /** Shows the job's latest state. */
  update(job: JobView): void;
  /** Stops the spinner and clears its line; nothing more is written. */
  stop(): void;
}

/**
 * A job's state in a few words: `submitting`, `queued, position 3`, `running`, `copying outputs`.
 * The position is RunComfy's number as is: whether it counts from 0 or 1 is undocumented.
 */
export function describeProgress(job: JobView): string {
  if (job.status === 'queued') {
    if (job.phase === 'submitting') return 'submitting';
    return job.queue_position === undefined ? 'queued' : `queued, position ${job.queue_position}`;
  }
  if (job.status === 'running' && job.phase === 'copying') return 'copying outputs';
  return job.status;
}

/** `4s`, `1m05s`, `1h02m`. */
export function formatElapsed(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const CLEAR_LINE = '\r\x1b[2K';

/**
 * Shows a job's progress while something waits for it. On a terminal: one spinner line,
 * redrawn in place with the state and the elapsed time. Anywhere else (CI logs, pipes): a
 * plain line each time the state changes (status or phase), never a repeat and no escape codes.
 * Final states are not shown: the caller reports how the job ended.
 *
 * @example
 * const progress = createProgressReporter({ stream: process.stderr, label: job.id });
 * await client.waitFor(job.id, { onProgress: (j) => progress.update(j) });
 * progress.stop();
 */
export function createProgressReporter(options: {
  stream: ProgressStream;
  /** Names the job on each line. */
  label: string;
  /** @default stream.isTTY */
  interactive?: boolean;
  /** @default Date.now */
  now?: () => number;
  /** Spinner redraw period on a terminal. @default 100 */
  frameIntervalMs?: number;
}): ProgressReporter {
  const { stream, label } = options;
  const now = options.now ?? Date.now;
  const startedAt = now();
  const interactive = options.interactive ?? stream.isTTY === true;
  let current: JobView | undefined;
  let lastState: string | undefined;
  let frame = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  let stopped = false;

  const line = (job: JobView) => `${label}: ${describeProgress(job)} · ${formatElapsed(now() - startedAt)}`;

  const draw = () => {
    if (!current) return;
    stream.write(`${CLEAR_LINE}${FRAMES[frame % FRAMES.length]} ${line(current)}`);
    frame += 1;
  };

  return {
    update(job) {
      // The end is the caller's to report (with outputs or the error), once.
      if (stopped || isTerminalStatus(job.status)) return;
      current = job;
      if (interactive) {
        if (!timer) {
          timer = setInterval(draw, options.frameIntervalMs ?? 100);
          // A forgotten reporter must not keep the process alive.
          timer.unref?.();
        }
        draw();
        return;
      }
      const state = `${job.status}/${job.phase ?? ''}`;
      if (state === lastState) return;
      lastState = state;
      stream.write(`${line(job)}\n`);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (timer) clearInterval(timer);
      if (interactive && current) stream.write(CLEAR_LINE);
    },
  };
}
