/**
 * The slice of a logger the core needs. Powertools' `Logger` satisfies it; the core never
 * imports Powertools itself so it stays usable (and cheap to load) outside Lambda.
 */
export interface Log {
  debug(message: string, ...extra: object[]): void;
  info(message: string, ...extra: object[]): void;
  warn(message: string, ...extra: object[]): void;
  error(message: string, ...extra: object[]): void;
}

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
