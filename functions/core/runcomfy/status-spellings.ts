/**
 * RunComfy's status spellings. Official clients disagree (`in_queue`, `IN-PROGRESS`, `canceled`),
 * so every spelling seen in the wild maps to one of a few states; anything else is `unknown`.
 */

/** The status endpoint's view: `finished` means "stop polling and read the result". */
export type UpstreamState = 'queued' | 'running' | 'finished' | 'unknown';

/** Lower-case, `IN-PROGRESS`/`in progress` → `in_progress`. */
export function normalizeStatus(raw: string): string {
  return raw
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
}

const FINISHED = new Set(['completed', 'succeeded', 'failed', 'error', 'cancelled', 'canceled']);
export const QUEUED = new Set(['in_queue', 'queued', 'pending']);
export const RUNNING = new Set(['in_progress', 'running', 'processing', 'started']);
export const SUCCEEDED = new Set(['succeeded', 'completed']);
export const FAILED = new Set(['failed', 'error']);
export const CANCELLED = new Set(['cancelled', 'canceled']);

/** Maps a status-endpoint spelling; `unknown` for anything never seen (the caller keeps polling). */
export function statusStateOf(rawStatus: string): UpstreamState {
  const status = normalizeStatus(rawStatus);
  if (FINISHED.has(status)) return 'finished';
  if (QUEUED.has(status)) return 'queued';
  if (RUNNING.has(status)) return 'running';
  return 'unknown';
}
