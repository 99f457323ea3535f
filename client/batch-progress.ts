import { formatElapsed, type ProgressStream } from './progress.ts';
import { type BatchView, FINAL_BATCH_STATUSES } from './types.ts';

/** A batch's jobs as the progress bar groups them. */
export interface BatchTally {
  /** Succeeded. */
  done: number;
  /** Failed, expired or cancelled. */
  failed: number;
  running: number;
  /** Waiting: in line, queued at RunComfy, or not made yet. */
  queued: number;
  /** Every valid line. */
  total: number;
}

export function tallyOf(batch: BatchView): BatchTally {
  const { pending, queued, running, succeeded, failed, cancelled, expired } = batch.counts;
  const ended = succeeded + failed + cancelled + expired;
  const valid = batch.lines === undefined ? undefined : batch.lines - (batch.invalid_lines ?? 0);
  return {
    done: succeeded,
    failed: failed + cancelled + expired,
    running,
    queued: queued + pending,
    total: Math.max(valid ?? 0, ended + running + queued + pending),
  };
}

/**
 * Estimated time left: the jobs still to end at the rate jobs ended since the first look
 * (`undefined` until one has ended, or when nothing is left).
 */
export function estimateRemainingMs(
  first: { atMs: number; ended: number },
  now: { atMs: number; ended: number; total: number },
): number | undefined {
  const ended = now.ended - first.ended;
  const left = now.total - now.ended;
  if (ended <= 0 || left <= 0 || now.atMs <= first.atMs) return undefined;
  return (left * (now.atMs - first.atMs)) / ended;
}

/** `[████████░░░░░░░░░░░░]` for a fraction of 0–1. */
export function bar(fraction: number, width = 20): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
}

/** One line: the bar, the share ended, each group, and the ETA. */
export function describeBatchProgress(batch: BatchView, etaMs: number | undefined): string {
  if (batch.status === 'validating') return 'validating the manifest';
  const tally = tallyOf(batch);
  const ended = tally.done + tally.failed;
  const fraction = tally.total === 0 ? 1 : ended / tally.total;
  const eta =
    batch.status === 'completing'
      ? 'writing results'
      : `ETA ${etaMs === undefined ? '–' : formatElapsed(etaMs)}`;
  return [
    `${bar(fraction)} ${Math.floor(fraction * 100)}%`,
    `${tally.done} done`,
    `${tally.failed} failed`,
    `${tally.running} running`,
    `${tally.queued} queued`,
    eta,
  ].join(' · ');
}

const CLEAR_LINE = '\r\x1b[2K';

export interface BatchProgressReporter {
  update(batch: BatchView): void;
  stop(): void;
}

/**
 * Shows a batch's progress while the CLI waits for it. On a terminal: one line redrawn in place
 * at each poll. Elsewhere (CI logs, pipes): a plain line when the counts change, at most every
 * `minIntervalMs`, so a long batch does not flood a log. The end is the caller's to report.
 *
 * @example
 * const progress = createBatchProgress({ stream: process.stderr, label: `batch ${id}` });
 * await client.batches.waitFor(id, { onProgress: (b) => progress.update(b) });
 * progress.stop();
 */
export function createBatchProgress(options: {
  stream: ProgressStream;
  label: string;
  /** @default stream.isTTY */
  interactive?: boolean;
  /** @default Date.now */
  now?: () => number;
  /** Between two plain lines. @default 5000 */
  minIntervalMs?: number;
}): BatchProgressReporter {
  const { stream, label } = options;
  const now = options.now ?? Date.now;
  const interactive = options.interactive ?? stream.isTTY === true;
  const minIntervalMs = options.minIntervalMs ?? 5_000;
  let first: { atMs: number; ended: number } | undefined;
  let lastText: string | undefined;
  let lastPrintedAt = Number.NEGATIVE_INFINITY;
  let drawn = false;
  let stopped = false;

  return {
    update(batch) {
      if (stopped || FINAL_BATCH_STATUSES.includes(batch.status)) return;
      const tally = tallyOf(batch);
      const atMs = now();
      const ended = tally.done + tally.failed;
      if (!first || batch.status === 'validating') first = { atMs, ended };
      const text = `${label}: ${describeBatchProgress(batch, estimateRemainingMs(first, { atMs, ended, total: tally.total }))}`;
      if (interactive) {
        stream.write(`${CLEAR_LINE}${text}`);
        drawn = true;
        return;
      }
      const counts = text.replace(/ · ETA .*$/, '');
      if (counts === lastText || atMs - lastPrintedAt < minIntervalMs) return;
      lastText = counts;
      lastPrintedAt = atMs;
      stream.write(`${text}\n`);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (interactive && drawn) stream.write(CLEAR_LINE);
    },
  };
}
