import { SimulatorError } from './errors.ts';
import type { Knobs } from './knobs.ts';

/**
 * Per-request behaviour, written as `fail; queue_s=3; run_s=1; stall; expire_after_s=5`.
 * It reaches a job through the `X-Sim-Script` submit header, a `[sim: …]` block or the magic
 * tokens in the prompt (so scripts also flow through a pipeline that never sees headers), an
 * admin "script the next submit" call, or an admin call on an existing job.
 */
export interface JobScript {
  /** The run ends FAILED (with `error_shape`/`error_message`). */
  fail?: boolean;
  /** The run stays in_progress forever (until an admin transition). */
  stall?: boolean;
  queue_s?: number;
  run_s?: number;
  /** Record TTL of this job, from created_at (overrides `record_ttl_s`). */
  expire_after_s?: number;
  /** Output TTL of this job, from finished_at (overrides `output_ttl_s`). */
  output_ttl_s?: number;
  error_shape?: Knobs['error_shape'];
  error_message?: string;
  /** Submit only: commit the job, then destroy the socket without answering. */
  drop_response?: boolean;
  /** The job stays queued (no worker takes it) until an admin transition or a cancel. */
  hold?: boolean;
  /** Its files answer 404 until this long after the run finished (the file host not ready yet). */
  file_not_ready_s?: number;
}

export const SCRIPT_HEADER = 'x-sim-script';

const FLAGS = ['fail', 'stall', 'drop_response', 'hold'] as const;
const SECONDS = ['queue_s', 'run_s', 'expire_after_s', 'output_ttl_s', 'file_not_ready_s'] as const;
const ERROR_SHAPES: readonly Knobs['error_shape'][] = ['object', 'string', 'json_string', 'serverless_array'];

/** @example parseScript('fail; run_s=1') // { fail: true, run_s: 1 } */
export function parseScript(text: string): JobScript {
  const script: JobScript = {};
  for (const raw of text.split(';')) {
    const directive = raw.trim();
    if (directive === '') continue;
    const eq = directive.indexOf('=');
    const key = (eq < 0 ? directive : directive.slice(0, eq)).trim();
    const value = eq < 0 ? undefined : directive.slice(eq + 1).trim();
    if ((FLAGS as readonly string[]).includes(key)) {
      if (value !== undefined && value !== 'true' && value !== 'false') throw badScript(directive);
      script[key as (typeof FLAGS)[number]] = value !== 'false';
    } else if ((SECONDS as readonly string[]).includes(key)) {
      const seconds = Number(value);
      if (value === undefined || value === '' || !Number.isFinite(seconds) || seconds < 0)
        throw badScript(directive);
      script[key as (typeof SECONDS)[number]] = seconds;
    } else if (key === 'error_shape') {
      if (!ERROR_SHAPES.includes(value as Knobs['error_shape'])) throw badScript(directive);
      script.error_shape = value as Knobs['error_shape'];
    } else if (key === 'error_message' && value !== undefined) {
      script.error_message = value;
    } else {
      throw badScript(directive);
    }
  }
  return script;
}

const PROMPT_SCRIPT = /\[sim:([^\]]*)\]/g;

/** The script a prompt carries: `[sim: …]` blocks plus the fail/stall/hold magic tokens. */
export function scriptFromPrompt(
  prompt: string,
  knobs: Pick<Knobs, 'fail_token' | 'stall_token' | 'hold_token'>,
): JobScript {
  const script: JobScript = {};
  for (const match of prompt.matchAll(PROMPT_SCRIPT)) Object.assign(script, parseScript(match[1] ?? ''));
  if (prompt.includes(knobs.fail_token)) script.fail = true;
  if (prompt.includes(knobs.stall_token)) script.stall = true;
  if (prompt.includes(knobs.hold_token)) script.hold = true;
  return script;
}

function badScript(directive: string): SimulatorError {
  return new SimulatorError('INVALID_SIM_SCRIPT', `cannot understand sim script directive "${directive}"`);
}
