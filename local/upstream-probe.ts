import { randomUUID } from 'node:crypto';
import { RunComfyClient, RunComfyError, redact } from '#core/runcomfy/index';
import { ENV } from '../contract/index.ts';

export type ProbeOutcome = 'accepted' | 'refused' | 'unreachable' | 'unexpected';

export interface ProbeResult {
  outcome: ProbeOutcome;
  /** One line for a person: which server, and what that means. Never contains the token. */
  line: string;
}

/** The whole exchange; a server that takes longer is reported unreachable. */
const PROBE_TIMEOUT_MS = 10_000;

/**
 * Asks a RunComfy-compatible server once, with the pipeline's own client, for the status of a
 * request id it cannot know. `not_found` proves it is reachable and took the token (RunComfy
 * checks the token first); an auth error means the token was refused; no answer at all means
 * it is unreachable. It never throws: the runtime keeps running whatever the answer.
 *
 * @example
 * const { line } = await probeUpstream({ baseUrl: 'http://127.0.0.1:8189', token });
 * // 'RunComfy check: http://127.0.0.1:8189 is reachable and accepted the token.'
 */
export async function probeUpstream(upstream: { baseUrl: string; token: string }): Promise<ProbeResult> {
  const where = `RunComfy check: ${upstream.baseUrl}`;
  const say = (outcome: ProbeOutcome, text: string): ProbeResult => ({
    outcome,
    line: redact(`${where} ${text}`, upstream.token),
  });
  try {
    const client = new RunComfyClient({
      baseUrl: upstream.baseUrl,
      token: async () => upstream.token,
      maxGetAttempts: 1,
      getTimeoutMs: PROBE_TIMEOUT_MS,
    });
    await client.status(randomUUID());
    return say(
      'unexpected',
      'answered a status for a request id it cannot know; the token was not verified.',
    );
  } catch (error) {
    if (!(error instanceof RunComfyError)) {
      return say(
        'unexpected',
        `could not be checked: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    const http = error.httpStatus === undefined ? '' : ` (HTTP ${error.httpStatus})`;
    if (error.kind === 'not_found') return say('accepted', 'is reachable and accepted the token.');
    if (error.kind === 'auth') {
      return say('refused', `is reachable, but the token was refused${http}: check ${ENV.runComfyApiToken}.`);
    }
    if (error.kind === 'transient' && error.httpStatus === undefined) {
      const why = error.message.replace(/^RunComfy status \S+: /, '');
      return say(
        'unreachable',
        `is unreachable (${why}); jobs wait and retry until it answers or their deadline passes.`,
      );
    }
    return say('unexpected', `answered unexpectedly${http}: ${error.code}.`);
  }
}
