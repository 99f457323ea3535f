import { PipelineError } from '#core/errors';

/**
 * Failures of the local runtime itself (not of the pipeline it runs), with stable codes so
 * that start.ts and tests can tell "moto did not come up" from "the queues never settled".
 */
export type LocalRuntimeErrorCode =
  | 'MOTO_START_FAILED'
  /** moto's process ended before listening: typically moto is not installed in the venv. */
  | 'MOTO_EXITED'
  | 'PIPELINE_ALREADY_RUNNING'
  /** `npm start` was given a setting it cannot use (the functions' own settings fail as CONFIG_INVALID). */
  | 'SETTINGS_INVALID'
  | 'HANDLER_LOAD_FAILED'
  | 'HANDLER_TIMEOUT'
  | 'DRAIN_TIMEOUT'
  /** `npm run token`: the running runtime's signing key file is missing or unreadable. */
  | 'AUTH_KEY_MISSING'
  /** `npm run token`: no local runtime runs, or it runs without auth (`API_AUTH` unset). */
  | 'AUTH_NOT_RUNNING';

export class LocalRuntimeError extends PipelineError {
  override readonly name = 'LocalRuntimeError';
  declare readonly code: LocalRuntimeErrorCode;
  constructor(code: LocalRuntimeErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { status: 500, expose: false, ...options });
  }
}
