import type { AddressInfo } from 'node:net';
import type { Clock } from '#core/clock';
import { SimulatorAdmin } from './admin.ts';
import { SimContext } from './context.ts';
import type { KnobsInput } from './knobs.ts';
import { createSimulatorServer } from './server.ts';

export type { JobView, OutputBook, SimStats } from './admin.ts';
export { JOB_STATES, SimulatorAdmin } from './admin.ts';
export type { ConcurrencyBooks } from './concurrency-ledger.ts';
export { ApiError, SimulatorError } from './errors.ts';
export type { FaultRule, FaultRuleInput } from './faults.ts';
export type { JobState } from './job.ts';
export type { Knobs, KnobsInput } from './knobs.ts';
export { KnobsSchema } from './knobs.ts';
export type { JobScript } from './script.ts';
export { parseScript, SCRIPT_HEADER } from './script.ts';
export type { Endpoint, InjectedFault, StatsSnapshot } from './stats.ts';
export { FLASH_EDIT_MODEL_ID } from './validation.ts';

export interface SimulatorOptions {
  /** @default '127.0.0.1' */
  host: string;
  /** @default 0 (an ephemeral port) */
  port: number;
  /**
   * Public base URL, used verbatim in every absolute URL the API returns (e.g. behind a proxy).
   * @default `http://<host>:<port>`
   */
  baseUrl: string | undefined;
  /**
   * Where output files are said to live; the server serves them under this URL's path.
   * @default `<baseUrl>/files`
   */
  filesBaseUrl: string | undefined;
  /** Time source of `timed` clock mode. @default the system clock */
  clock: Clock;
  /** Start knobs (see `KnobsSchema` for names and defaults); `admin.reset()` returns to these. */
  knobs: Partial<KnobsInput>;
  /** Cap on cached rendered outputs (re-rendered identically when evicted). @default 512 MiB */
  outputCacheBytes: number;
}

export interface RunningSimulator {
  /** e.g. `http://127.0.0.1:43123` (no trailing slash); the API lives under `/v1`. */
  baseUrl: string;
  filesBaseUrl: string;
  /** The first token of the `tokens` knob (`sim-token` -> user `u1` by default). */
  token: string;
  admin: SimulatorAdmin;
  close(): Promise<void>;
}

/**
 * Starts the RunComfy Model API simulator on loopback. Timing defaults suit a quick local demo:
 * 0.5 s in queue, 2 s running, one worker (reference §3.1).
 *
 * @example
 * const sim = await startSimulator({ knobs: { clock_mode: 'manual', queue_delay_s: 0 } });
 * const res = await fetch(`${sim.baseUrl}/v1/models/blackforestlabs/flux-2/flash/edit`, {
 *   method: 'POST',
 *   headers: { authorization: `Bearer ${sim.token}`, 'content-type': 'application/json' },
 *   body: JSON.stringify({ prompt: 'make it red', image_urls: ['https://example.com/a.png'] }),
 * });
 * sim.admin.advance(2_000); // the job completes
 * await sim.close();
 */
export async function startSimulator(options: Partial<SimulatorOptions> = {}): Promise<RunningSimulator> {
  const host = options.host ?? '127.0.0.1';
  const ctx = new SimContext({
    ...(options.knobs ? { knobs: options.knobs } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.outputCacheBytes ? { outputCacheBytes: options.outputCacheBytes } : {}),
  });
  const admin = new SimulatorAdmin(ctx);
  const server = createSimulatorServer(ctx, admin);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const baseUrl = stripSlash(options.baseUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`);
  const filesBaseUrl = stripSlash(options.filesBaseUrl ?? `${baseUrl}/files`);
  ctx.urls = { baseUrl, filesBaseUrl, filesPath: stripSlash(new URL(filesBaseUrl).pathname) };

  return {
    baseUrl,
    filesBaseUrl,
    token: Object.keys(ctx.knobs.tokens)[0] ?? '',
    admin,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

const stripSlash = (url: string) => url.replace(/\/+$/, '');
