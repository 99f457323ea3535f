import { FluxEditError } from './errors.ts';

/** The bearer token for an API behind a JWT authorizer, when `--token` is not given. */
export const TOKEN_ENV = 'FLUX_EDIT_TOKEN';

/** Exit statuses, so scripts can tell a failed edit from a refused request. */
export const EXIT = {
  ok: 0,
  /** The job failed, was cancelled or expired (a batch: some line did not succeed, or it was refused). */
  failed: 1,
  /** Bad arguments or configuration (no API URL, an unreadable image). */
  usage: 2,
  /** The API or storage refused the request or could not be reached. */
  api: 3,
  /** `--timeout` passed before the job ended; the job carries on. */
  timeout: 124,
  /** Ctrl-C while waiting; the job carries on. */
  interrupted: 130,
} as const;

/** A command line the CLI cannot run: exit status 2, with the usage hint. */
export class UsageError extends FluxEditError {
  override readonly name: string = 'UsageError';
  constructor(message: string) {
    super('USAGE', message);
  }
}

export function integerOption(name: string, value: string): number {
  if (!/^-?\d+$/.test(value.trim())) throw new UsageError(`${name} must be an integer, not ${value}`);
  return Number(value);
}

export function numberOption(name: string, value: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number))
    throw new UsageError(`${name} must be a number, not ${value}`);
  return number;
}

export function secondsOption(name: string, value: string): number {
  const seconds = numberOption(name, value);
  if (seconds <= 0) throw new UsageError(`${name} must be more than 0 seconds`);
  return seconds;
}

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;

/**
 * A point in time given as an age (`90s`, `30m`, `24h`, `7d`, `2w`: that long before `now`) or
 * as an ISO 8601 time.
 *
 * @example
 * sinceOption('--since', '24h', Date.parse('2026-06-02T12:00:00Z')); // 2026-06-01T12:00:00.000Z
 */
export function sinceOption(name: string, value: string, now: number = Date.now()): string {
  const age = /^(\d+(?:\.\d+)?)\s*([smhdw])$/i.exec(value.trim());
  if (age) {
    const unit = (age[2] as string).toLowerCase() as keyof typeof UNIT_MS;
    return new Date(now - Number(age[1]) * UNIT_MS[unit]).toISOString();
  }
  const time = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(time)) {
    throw new UsageError(`${name} must be an age like 30m, 24h or 7d, or an ISO 8601 time, not ${value}`);
  }
  return new Date(time).toISOString();
}

export function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}
