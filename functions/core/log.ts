/**
 * The slice of a logger the core needs. Powertools' `Logger` satisfies it; the core never
 * imports Powertools itself so it stays usable (and cheap to load) outside Lambda.
 */
export interface Log {
  debug(message: string, ...extra: Record<string, unknown>[]): void;
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
