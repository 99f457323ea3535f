import { createServer } from 'node:net';
import { hostMatches } from '#core/outputs/download-policy';
import { DEFAULTS, ENV, type SettingName } from '../contract/index.ts';
import { LocalRuntimeError } from './errors.ts';
import { type EnvOverrides, type LocalPipelineOptions, RUNTIME_OWNED_SETTINGS } from './pipeline.ts';
import { RUNTIME_ENV } from './runtime-env.ts';

const DEFAULT_PORT = 3000;

export interface StartPlan {
  options: LocalPipelineOptions;
  /** Names of the settings taken from the environment (never their values: some are secrets). */
  passed: string[];
  /** Lines to tell the person starting it before anything runs. */
  notes: string[];
}

/**
 * What `npm start` runs, from its environment. Every setting the deployed functions read (`ENV`)
 * that is set reaches them, except the ones the runtime owns (the names of what it creates and
 * the secrets' ARNs), which are reported as ignored. The values are checked later by the
 * functions' own loader, before anything starts. `RUNCOMFY_API_TOKEN` (with `RUNCOMFY_BASE_URL`,
 * or RunComfy's own API by default) replaces the simulator.
 *
 * @example
 * const { options } = await planFromEnvironment({ OUTPUT_HOST_ALLOWLIST: '127.0.0.1', PORT: '0' });
 * // options.env = { outputHostAllowlist: '127.0.0.1' }, options.port = 0
 */
export async function planFromEnvironment(env: NodeJS.ProcessEnv): Promise<StartPlan> {
  const given = (name: string) => (env[name] === '' ? undefined : env[name]);
  const token = given(ENV.runComfyApiToken);
  const baseUrl = given(ENV.runComfyBaseUrl);
  if (baseUrl !== undefined && token === undefined) {
    throw new LocalRuntimeError(
      'SETTINGS_INVALID',
      `${ENV.runComfyBaseUrl} is set but ${ENV.runComfyApiToken} is not: set ${ENV.runComfyApiToken} to the token ` +
        `that server accepts, or unset ${ENV.runComfyBaseUrl} to use the bundled RunComfy simulator`,
    );
  }

  const settings: EnvOverrides = {};
  const passed: string[] = [];
  const ignored: string[] = [];
  const owned: readonly SettingName[] = RUNTIME_OWNED_SETTINGS;
  for (const [key, name] of Object.entries(ENV) as [SettingName, string][]) {
    const value = given(name);
    if (value === undefined) continue;
    // The upstream's URL and token are the `runComfy` option (they also decide: simulator or not).
    if (key === 'runComfyBaseUrl' || key === 'runComfyApiToken') passed.push(name);
    else if (owned.includes(key)) ignored.push(name);
    else {
      settings[key] = value;
      passed.push(name);
    }
  }

  const notes: string[] = [];
  if (ignored.length > 0) {
    notes.push(
      `Ignoring ${ignored.join(', ')} from the environment: the local runtime points the functions at what it ` +
        `creates, and gives secrets by value (${ENV.runComfyApiToken}, ${ENV.webhookSigningSecret}), not by ARN.`,
    );
  }
  const runComfy = token === undefined ? undefined : { baseUrl: baseUrl ?? DEFAULTS.runComfyBaseUrl, token };
  if (runComfy) {
    const hint = allowlistHint(runComfy.baseUrl, settings.outputHostAllowlist);
    if (hint) notes.push(hint);
  }

  const auth = authFrom(env);
  return {
    options: {
      port: await portFrom(env[RUNTIME_ENV.port], notes),
      ...(runComfy ? { runComfy } : {}),
      ...(auth ? { auth } : {}),
      env: settings,
      ...retryDelayFrom(env[RUNTIME_ENV.retryDelaySeconds]),
      // Readable, indented logs for a person; it also keeps Powertools metrics off the console.
      extraEnv: { POWERTOOLS_DEV: env.POWERTOOLS_DEV ?? 'true' },
    },
    passed,
    notes,
  };
}

/**
 * Outputs are downloaded only from the allowlisted hosts: a server other than RunComfy that
 * serves its own outputs is refused (the job ends OUTPUT_COPY_FAILED) unless its host is listed.
 */
function allowlistHint(baseUrl: string, allowlist: EnvOverrides['outputHostAllowlist']): string | undefined {
  if (!URL.canParse(baseUrl)) return undefined;
  const host = new URL(baseUrl).hostname;
  const entries =
    allowlist === undefined
      ? [...DEFAULTS.outputHostAllowlist]
      : String(allowlist).split(',').filter(Boolean);
  if (entries.some((entry) => hostMatches(host, entry))) return undefined;
  return (
    `Note: outputs are copied only from the hosts in ${ENV.outputHostAllowlist} (${entries.join(',') || 'none'}); ` +
    `if ${host} serves the outputs itself, add it there.`
  );
}

/** `API_AUTH=jwt` with its issuer and audiences; JWT settings without it are a mistake worth saying. */
function authFrom(env: NodeJS.ProcessEnv): LocalPipelineOptions['auth'] {
  const mode = env[RUNTIME_ENV.apiAuth] || 'none';
  const issuer = env[RUNTIME_ENV.jwtIssuer] || undefined;
  const audienceList = env[RUNTIME_ENV.jwtAudience] || undefined;
  const audience = audienceList
    ?.split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  if (mode !== 'none' && mode !== 'jwt') {
    throw new LocalRuntimeError('SETTINGS_INVALID', `${RUNTIME_ENV.apiAuth} must be none or jwt`);
  }
  if (mode === 'none') {
    if (issuer !== undefined || audienceList !== undefined) {
      throw new LocalRuntimeError(
        'SETTINGS_INVALID',
        `${RUNTIME_ENV.jwtIssuer} and ${RUNTIME_ENV.jwtAudience} apply with ${RUNTIME_ENV.apiAuth}=jwt only`,
      );
    }
    return undefined;
  }
  if (issuer !== undefined && !URL.canParse(issuer)) {
    throw new LocalRuntimeError('SETTINGS_INVALID', `${RUNTIME_ENV.jwtIssuer} must be a URL`);
  }
  if (audienceList !== undefined && !audience?.length) {
    throw new LocalRuntimeError('SETTINGS_INVALID', `${RUNTIME_ENV.jwtAudience} must name an audience`);
  }
  return { mode: 'jwt', ...(issuer ? { issuer } : {}), ...(audience?.length ? { audience } : {}) };
}

async function portFrom(value: string | undefined, notes: string[]): Promise<number> {
  const wanted = value ? Number(value) : DEFAULT_PORT;
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > 65_535) {
    throw new LocalRuntimeError('SETTINGS_INVALID', `PORT must be a port number (0 for any free one)`);
  }
  if (await isPortFree(wanted)) return wanted;
  notes.push(`Port ${wanted} is taken; using an ephemeral port.`);
  return 0;
}

function retryDelayFrom(value: string | undefined): Pick<LocalPipelineOptions, 'retryDelaySeconds'> {
  if (value === undefined || value === '') return {};
  const seconds = Number(value);
  // It becomes an SQS visibility timeout: whole seconds, at most 12 hours.
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > 43_200) {
    throw new LocalRuntimeError(
      'SETTINGS_INVALID',
      'LOCAL_RETRY_DELAY_SECONDS must be whole seconds, 0–43200',
    );
  }
  return { retryDelaySeconds: seconds };
}

function isPortFree(port: number): Promise<boolean> {
  if (port === 0) return Promise.resolve(true);
  return new Promise((answer) => {
    const probe = createServer();
    probe.once('error', () => answer(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => answer(true)));
  });
}
