import { randomBytes } from 'node:crypto';
import { DEFAULTS, ENV, type SettingName } from '../contract/index.ts';
import type { RunningSimulator } from '../simulator/index.ts';
import type { LocalResources } from './resources.ts';

/*
 * The functions' environment in the local runtime: the same `ENV` settings a deployment gives
 * them, pointed at what the runtime created, with the caller's overrides on top.
 */

/** Settings the functions read (`ENV` keys), overriding the local defaults. */
export type EnvOverrides = Partial<Record<SettingName, string | number | boolean>>;

export const LOCAL_REGION = 'us-east-1';

/**
 * Settings the runtime owns: it points them at what it creates (table, queues, bucket, topic,
 * bus), and leaves the secrets' ARNs unset because it hands the functions the values instead
 * (there is no Secrets Manager secret to read locally). Every other setting is the caller's.
 */
export const RUNTIME_OWNED_SETTINGS = [
  'jobsTable',
  'pollQueueUrl',
  'resultQueueUrl',
  'webhookQueueUrl',
  'outputBucket',
  'topicArn',
  'eventBusName',
  'runComfyTokenSecretArn',
  'webhookSecretArn',
  'listCursorSecretArn',
] as const satisfies readonly SettingName[];

export type RuntimeOwnedSetting = (typeof RUNTIME_OWNED_SETTINGS)[number];

export interface Upstream {
  baseUrl: string;
  token: string;
  simulated: boolean;
  /** The simulator's file host: it serves outputs over plain http on loopback. */
  outputHost?: string;
}

/** The RunComfy the functions talk to; before the simulator runs, a stand-in of its shape. */
export function upstreamOf(
  runComfy: { baseUrl: string; token: string } | undefined,
  simulator?: Pick<RunningSimulator, 'baseUrl' | 'token' | 'filesBaseUrl'>,
): Upstream {
  if (runComfy) return { ...runComfy, simulated: false };
  if (!simulator) {
    return { baseUrl: 'http://127.0.0.1', token: 'simulator', simulated: true, outputHost: '127.0.0.1' };
  }
  return {
    baseUrl: simulator.baseUrl,
    token: simulator.token,
    simulated: true,
    outputHost: new URL(simulator.filesBaseUrl).hostname,
  };
}

/** The runtime's own settings, from what it created (stand-ins when `resources` is not there yet). */
export function ownedSettings(
  resources: LocalResources | undefined,
): Record<RuntimeOwnedSetting, string | undefined> {
  const created = (pick: (made: LocalResources) => string) => (resources ? pick(resources) : 'to-be-created');
  return {
    jobsTable: created((made) => made.table),
    pollQueueUrl: created((made) => made.queues.poll.url),
    resultQueueUrl: created((made) => made.queues.result.url),
    webhookQueueUrl: created((made) => made.queues.webhook.url),
    outputBucket: created((made) => made.bucket),
    topicArn: created((made) => made.topicArn),
    eventBusName: created((made) => made.eventBusName),
    runComfyTokenSecretArn: undefined,
    webhookSecretArn: undefined,
    listCursorSecretArn: undefined,
  };
}

/**
 * The functions' whole environment, one entry per `ENV` name (`undefined`: removed): the
 * runtime's own settings, then the local defaults, then `overrides`. Locally, outputs over
 * plain http are accepted from the loopback hosts the allowlist names (the simulator, or a
 * RunComfy-compatible server on this machine); the functions never widen it beyond loopback.
 */
export function functionEnvironment(
  owned: Record<RuntimeOwnedSetting, string | undefined>,
  upstream: Upstream,
  overrides: EnvOverrides | undefined,
  webhookSigningSecret: string,
): Record<string, string | undefined> {
  const settings: Partial<Record<SettingName, string | undefined>> = {
    ...owned,
    runComfyBaseUrl: upstream.baseUrl,
    // The deployed functions read the token from Secrets Manager; locally it is given directly.
    runComfyApiToken: upstream.token,
    outputHostAllowlist: [
      ...(upstream.outputHost ? [upstream.outputHost] : []),
      ...DEFAULTS.outputHostAllowlist,
    ].join(','),
    allowLoopbackHttp: 'true',
    // A fresh secret per run; read it from the environment (or pass `env.webhookSigningSecret`).
    webhookSigningSecret,
    // Likewise the key that signs list cursors.
    listCursorSecret: randomBytes(32).toString('base64url'),
  };
  for (const [key, value] of Object.entries(overrides ?? {})) {
    if (value !== undefined) settings[key as SettingName] = String(value);
  }
  return Object.fromEntries(
    (Object.entries(ENV) as [SettingName, string][]).map(([key, name]) => [name, settings[key]]),
  );
}

/**
 * Points every SDK client at the emulator with throwaway credentials, and drops anything
 * that could route a call to a real account (profiles, session tokens, per-service endpoints).
 */
export function awsEnvironment(endpoint: string): Record<string, string | undefined> {
  const perServiceEndpoints = Object.keys(process.env).filter((name) => name.startsWith('AWS_ENDPOINT_URL_'));
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_SESSION_TOKEN: undefined,
    AWS_PROFILE: undefined,
    ...Object.fromEntries(perServiceEndpoints.map((name) => [name, undefined])),
  };
}

/** Remembers the values it replaces so `stop()` leaves process.env as it found it. */
export class EnvironmentChanges {
  readonly #previous = new Map<string, string | undefined>();

  set(values: Record<string, string | undefined>): void {
    for (const [name, value] of Object.entries(values)) {
      if (!this.#previous.has(name)) this.#previous.set(name, process.env[name]);
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }

  unset(names: string[]): void {
    this.set(Object.fromEntries(names.map((name) => [name, undefined])));
  }

  restore(): void {
    for (const [name, value] of this.#previous) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    this.#previous.clear();
  }
}
