import type { EditInput } from '#core/edit-input';
import type { RunComfy } from '#core/ports';
import {
  type CancelOutcome,
  RunComfyError,
  type RunComfyOperation,
  type UpstreamResult,
  type UpstreamStatus,
} from '#core/runcomfy/index';

export type RunState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface Run {
  requestId: string;
  input: EditInput;
  state: RunState;
  outputUrls: string[];
  cost: number;
}

/**
 * RunComfy's queue in memory, with the contract's rules (only queued runs cancel; terminal states
 * never change; a cancelled run costs nothing). Runs move only when a test says so (`start`,
 * `finish`); `failNext` makes the next call of an operation throw a `RunComfyError` of a kind.
 */
export class MemoryRunComfy implements RunComfy {
  readonly runs = new Map<string, Run>();
  readonly calls: { operation: RunComfyOperation; requestId?: string }[] = [];
  readonly #failures: { operation: RunComfyOperation; error: RunComfyError }[] = [];
  #next = 1;

  failNext(operation: RunComfyOperation, kind: RunComfyError['kind'], httpStatus?: number): void {
    this.#failures.push({
      operation,
      error: new RunComfyError(`simulated ${kind} on ${operation}`, { kind, operation, httpStatus }),
    });
  }

  async submit(input: EditInput): Promise<{ requestId: string }> {
    this.#call('submit');
    const requestId = `req-${this.#next++}`;
    this.runs.set(requestId, { requestId, input, state: 'queued', outputUrls: [], cost: 0 });
    return { requestId };
  }

  async status(requestId: string): Promise<UpstreamStatus> {
    const run = this.#run('status', requestId);
    if (run.state === 'queued') return { state: 'queued', rawStatus: 'in_queue', queuePosition: 0 };
    if (run.state === 'running') return { state: 'running', rawStatus: 'in_progress' };
    return { state: 'finished', rawStatus: run.state === 'cancelled' ? 'cancelled' : 'completed' };
  }

  async result(requestId: string): Promise<UpstreamResult> {
    const run = this.#run('result', requestId);
    const rawStatus =
      run.state === 'queued' ? 'in_queue' : run.state === 'running' ? 'in_progress' : run.state;
    return {
      state: run.state,
      rawStatus,
      outputUrls: run.state === 'succeeded' ? [...run.outputUrls] : [],
      ...(run.state === 'failed'
        ? { error: { message: 'simulated failure', raw: { error_code: 500001 } } }
        : {}),
      ...(run.state === 'succeeded' || run.state === 'failed' || run.state === 'cancelled'
        ? { cost: run.cost }
        : {}),
    };
  }

  async cancel(requestId: string): Promise<CancelOutcome> {
    const run = this.#run('cancel', requestId);
    if (run.state === 'queued') run.state = 'cancelled';
    return { outcome: run.state === 'cancelled' ? 'cancelled' : 'not_cancellable', rawStatus: run.state };
  }

  /** Test controls: RunComfy starts, then ends, a run. */
  start(requestId: string): void {
    const run = this.#get(requestId);
    if (run.state === 'queued') run.state = 'running';
  }

  finish(requestId: string, outcome: 'succeeded' | 'failed' = 'succeeded', outputs = 1): void {
    const run = this.#get(requestId);
    if (run.state !== 'queued' && run.state !== 'running') return;
    run.state = outcome;
    run.cost = outcome === 'succeeded' ? 0.01 : 0;
    run.outputUrls =
      outcome === 'succeeded'
        ? Array.from(
            { length: outputs },
            (_, index) => `https://files.runcomfy.net/${requestId}/${index}.png`,
          )
        : [];
  }

  #call(operation: RunComfyOperation, requestId?: string) {
    this.calls.push({ operation, ...(requestId ? { requestId } : {}) });
    const index = this.#failures.findIndex((failure) => failure.operation === operation);
    if (index >= 0) throw this.#failures.splice(index, 1)[0]?.error;
  }

  #run(operation: RunComfyOperation, requestId: string): Run {
    this.#call(operation, requestId);
    return this.#get(requestId, operation);
  }

  #get(requestId: string, operation: RunComfyOperation = 'status'): Run {
    const run = this.runs.get(requestId);
    if (!run)
      throw new RunComfyError(`RunComfy ${operation}: unknown request`, { kind: 'not_found', operation });
    return run;
  }
}
