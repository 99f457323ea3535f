import { randomUUID } from 'node:crypto';
import type { Log } from '#core/log';
import { generateSigningSecret } from '#core/webhooks/sign';
import {
  ENV,
  FUNCTIONS,
  type FunctionName,
  loadConfig,
  METRIC_IDENTITY,
  QUEUES,
  type QueueName,
  ROUTES,
  SWEEPER,
} from '../contract/index.ts';
import type { RunningSimulator as Simulator, SimulatorOptions } from '../simulator/index.ts';
import { armCrashes, startAwsChaosProxy } from './aws-chaos-proxy.ts';
import { CONSOLE_PATH, consoleSite } from './console-site.ts';
import { LocalRuntimeError } from './errors.ts';
import {
  awsEnvironment,
  EnvironmentChanges,
  type EnvOverrides,
  functionEnvironment,
  LOCAL_REGION,
  ownedSettings,
  upstreamOf,
} from './function-environment.ts';
import { type HandlerOverrides, loadHandlers } from './handlers.ts';
import { startHttpApi } from './http-api.ts';
import { createJwtAuthorizer } from './jwt-authorizer.ts';
import { DEFAULT_LOCAL_ADMIN_SCOPE, type LocalIssuer, startLocalIssuer } from './jwt-issuer.ts';
import { type InvocationTarget, invokeHandler, type LambdaHandler } from './lambda-context.ts';
import { type MotoServer, startMotoServer } from './moto-server.ts';
import { receiveObserved } from './observer-queues.ts';
import {
  createLocalClients,
  createLocalResources,
  DEFAULT_STACK_NAME,
  destroyLocalClients,
  type LocalClients,
  putConsoleCors,
} from './resources.ts';
import { type DeliveryChaos, SqsDriver } from './sqs-driver.ts';

export type { RunningSimulator as Simulator, SimulatorOptions } from '../simulator/index.ts';
export { type EnvOverrides, LOCAL_REGION, RUNTIME_OWNED_SETTINGS } from './function-environment.ts';

export interface LocalPipelineOptions {
  /** Use this emulator endpoint instead of starting moto (it is then left running by `stop()`). */
  awsEndpoint?: string;
  /** Prefix of every resource name. @default 'flux-edit-local' */
  stackName?: string;
  /**
   * A RunComfy to talk to instead of the simulator, e.g. the real Model API with a real token.
   * @default undefined: start the project's simulator on loopback
   */
  runComfy?: { baseUrl: string; token: string };
  /** Options for the simulator (ignored with `runComfy`). */
  simulator?: Partial<SimulatorOptions>;
  /** e.g. `{ jobDeadlineSeconds: 60 }` */
  env?: EnvOverrides;
  /** Any other variables for the functions, e.g. `{ POWERTOOLS_LOG_LEVEL: 'WARN' }`. */
  extraEnv?: Record<string, string>;
  /** Stand-in handlers (the others are imported from their entries). */
  handlers?: HandlerOverrides;
  /** See `SqsDriverOptions.retryDelaySeconds`. @default the queue's visibility timeout, as in AWS */
  retryDelaySeconds?: number;
  /** Long-poll wait of the SQS driver. @default 20 */
  waitTimeSeconds?: number;
  /** HTTP API port. @default 0 (ephemeral) */
  port?: number;
  /**
   * `{ mode: 'jwt' }`: every route needs a bearer token of a local issuer started with the
   * pipeline (keys made now, JWKS on loopback), verified as API Gateway's JWT authorizer does,
   * whose claims reach the functions where API Gateway puts them. `ADMIN_SCOPE` then defaults
   * to `admin`. @default no auth: every caller is `local`, an admin
   */
  auth?: { mode: 'jwt'; issuer?: string; audience?: readonly string[] };
  /** @default 1 MiB */
  maxBodyBytes?: number;
  /**
   * Serve the web console at `/console/` of the API (and let its origin upload to the bucket).
   * @default true
   */
  webConsole?: boolean;
  /** How often the sweeper runs, like its EventBridge schedule. @default SWEEPER.scheduleMinutes */
  sweepIntervalSeconds?: number;
  /** Where moto logs. @default '.local/moto.log' */
  motoLogFile?: string;
  /** The runtime's own log (handler failures, driver trouble). @default warnings and errors to stderr */
  log?: Log;
  /**
   * Faults on the pipeline's own side, for soaks: SQS delivery faults (`delivery`), and handlers
   * crashing right after a write took effect (`crashAfterWrite`, a fraction of the functions' AWS
   * writes, through a proxy in front of the emulator). @default none
   */
  chaos?: {
    delivery?: DeliveryChaos;
    crashAfterWrite?: number;
    random?: () => number;
    /** Filled in as the faults happen, by kind. */
    injected?: Record<string, number>;
  };
}

/**
 * URLs of every queue of infra/definition.ts (`poll`, `pollDlq`, `result`, `resultDlq`, ...)
 * and of the observer queues: `snsObserver` is subscribed to the topic (SNS envelopes, not
 * raw), `eventsObserver` receives the bus's `source: flux-edit-pipeline` events.
 */
export type LocalQueueUrls = Record<QueueName | `${QueueName}Dlq` | 'snsObserver' | 'eventsObserver', string>;

export interface LocalPipeline {
  apiUrl: string;
  /** The web console (`<apiUrl>/console/`), unless `webConsole: false`. */
  consoleUrl?: string;
  awsEndpoint: string;
  region: string;
  accountId: string;
  stackName: string;
  bucket: string;
  table: string;
  topicArn: string;
  eventBusName: string;
  queues: LocalQueueUrls;
  runComfy: { baseUrl: string; simulated: boolean };
  /** This run's webhook signing secret (`whsec_…`), for a local receiver to verify deliveries with. */
  webhookSigningSecret: string;
  /** In JWT mode: the local issuer (its URL, JWKS, key; `mint` makes tokens) and the admin scope. */
  auth?: LocalIssuer & { adminScope: string | undefined };
  /** Present when the simulator runs (no `runComfy` option): its admin API drives fault injection. */
  simulator?: Simulator;
  /** SDK clients on the emulator, built by the same factory the functions use. */
  clients: LocalClients;
  /** Calls a function's handler directly with a Lambda context, bypassing HTTP and SQS. */
  invoke(functionName: FunctionName, event: unknown): Promise<unknown>;
  /** One check: nothing in flight and the driven queues (not DLQs) empty. */
  idle(): Promise<boolean>;
  /** Waits until the pipeline settles; rejects with DRAIN_TIMEOUT. @default timeoutMs 30_000 */
  drain(options?: { timeoutMs?: number }): Promise<void>;
  /**
   * Receives (and deletes) what the observer queues got, parsed from JSON, waiting until at
   * least `min` messages arrived or `timeoutMs` passed.
   */
  receiveObserved(
    observer: 'sns' | 'events',
    options?: { min?: number; timeoutMs?: number },
  ): Promise<Record<string, unknown>[]>;
  /** Stops everything it started and restores the environment; safe to call twice. */
  stop(): Promise<void>;
}

const consoleLog: Log = {
  debug() {},
  info() {},
  warn: (message, ...extra) => console.warn(`[local] ${message}`, ...extra),
  error: (message, ...extra) => console.error(`[local] ${message}`, ...extra),
};

/** The environment (and handler module cache) are per process, so is the pipeline. */
let running = false;

/**
 * Runs the pipeline's Lambda handlers on this machine: moto for AWS, the RunComfy simulator
 * (or a given RunComfy), an HTTP API in front of the routes and SQS event source mappings
 * behind the queues, all built from infra/definition.ts. One pipeline per process at a time.
 *
 * @example
 * const pipeline = await startLocalPipeline({ retryDelaySeconds: 1 });
 * const response = await fetch(`${pipeline.apiUrl}/edits`, { method: 'POST', body: '{...}' });
 * await pipeline.drain();
 * await pipeline.stop();
 */
export async function startLocalPipeline(options: LocalPipelineOptions = {}): Promise<LocalPipeline> {
  if (running) {
    throw new LocalRuntimeError('PIPELINE_ALREADY_RUNNING', 'a local pipeline already runs in this process');
  }
  running = true;
  const log = options.log ?? consoleLog;
  const stackName = options.stackName ?? DEFAULT_STACK_NAME;
  const environment = new EnvironmentChanges();
  const cleanups: (() => Promise<void> | void)[] = [() => environment.restore()];
  const cleanUp = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        log.warn('cleanup failed', { error: String(error) });
      }
    }
    running = false;
  };

  try {
    // Checked by the functions' own loader before anything starts, so that a bad setting fails
    // at once with its variable's name. What the runtime will create is not named yet: stand-ins.
    const webhookSigningSecret = generateSigningSecret();
    // In JWT mode an admin scope is there to be granted (`npm run token -- --scope admin`).
    const settings: EnvOverrides = {
      ...(options.auth ? { adminScope: DEFAULT_LOCAL_ADMIN_SCOPE } : {}),
      ...options.env,
    };
    loadConfig(
      functionEnvironment(
        ownedSettings(undefined),
        upstreamOf(options.runComfy),
        settings,
        webhookSigningSecret,
      ),
    );

    const [moto, simulator] = await Promise.all([
      options.awsEndpoint ? undefined : startMotoServer({ logFile: options.motoLogFile }),
      options.runComfy ? undefined : startProjectSimulator(options.simulator),
    ]);
    if (moto) cleanups.push(() => moto.stop());
    if (simulator) cleanups.push(() => simulator.close());
    const awsEndpoint = options.awsEndpoint ?? (moto as MotoServer).endpoint;

    environment.set(awsEnvironment(awsEndpoint));
    const clients = createLocalClients();
    cleanups.push(() => destroyLocalClients(clients));
    const resources = await createLocalResources(clients, { stackName, region: LOCAL_REGION });

    const runComfy = upstreamOf(options.runComfy, simulator);
    const functionEnv = functionEnvironment(
      ownedSettings(resources),
      runComfy,
      settings,
      webhookSigningSecret,
    );
    // Every setting is set or removed, so the functions see these options and nothing that
    // happens to be in this process's environment.
    environment.set({
      ...functionEnv,
      POWERTOOLS_SERVICE_NAME: METRIC_IDENTITY.serviceName,
      POWERTOOLS_METRICS_NAMESPACE: METRIC_IDENTITY.namespace,
      ...options.extraEnv,
    });
    const chaos = options.chaos;
    // Where the functions reach S3, and so where the URLs they presign point.
    let functionsAwsEndpoint = awsEndpoint;
    if (chaos?.crashAfterWrite) {
      // The functions (whose clients are made when their modules load, below) reach the emulator
      // through the fault proxy; the runtime's own clients, made above, keep talking to it directly.
      const proxy = await startAwsChaosProxy({
        target: awsEndpoint,
        crashAfterWrite: chaos.crashAfterWrite,
        ...(chaos.random ? { random: chaos.random } : {}),
      });
      cleanups.push(() => proxy.close());
      // Queue URLs name their host, which the SQS client calls instead of its endpoint: the proxy's.
      const viaProxy = (url: string) => `${proxy.endpoint}${new URL(url).pathname}`;
      environment.set({
        AWS_ENDPOINT_URL: proxy.endpoint,
        [ENV.pollQueueUrl]: viaProxy(resources.queues.poll.url),
        [ENV.resultQueueUrl]: viaProxy(resources.queues.result.url),
        [ENV.webhookQueueUrl]: viaProxy(resources.queues.webhook.url),
      });
      functionsAwsEndpoint = proxy.endpoint;
      if (chaos.injected) {
        const injected = chaos.injected;
        Object.defineProperty(injected, 'crashAfterWrite', {
          enumerable: true,
          get: () => (Object.values(proxy.injected) as number[]).reduce((sum, count) => sum + count, 0),
        });
      }
    }

    const handlers = await loadHandlers(options.handlers);
    const targetOf = (functionName: FunctionName): InvocationTarget => ({
      functionName,
      handler: handlers[functionName] as LambdaHandler,
      region: LOCAL_REGION,
      accountId: resources.accountId,
      stackName,
    });

    // Queue-driven and scheduled invocations may crash after a write (the soak's fault); API ones not.
    const queueTarget = (functionName: FunctionName): InvocationTarget => {
      const target = targetOf(functionName);
      if (!chaos?.crashAfterWrite) return target;
      const handler = target.handler as (event: unknown, context: unknown) => unknown;
      return {
        ...target,
        handler: ((event: unknown, context: unknown) =>
          armCrashes(async () => handler(event, context))) as LambdaHandler,
      };
    };
    const driver = new SqsDriver({
      sqs: clients.sqs,
      queues: (Object.keys(QUEUES) as QueueName[]).map((name) => ({
        name,
        url: resources.queues[name].url,
        arn: resources.queues[name].arn,
        target: queueTarget(QUEUES[name].consumer),
      })),
      retryDelaySeconds: options.retryDelaySeconds,
      waitTimeSeconds: options.waitTimeSeconds,
      ...(chaos?.delivery
        ? {
            chaos: {
              ...chaos.delivery,
              ...(chaos.random ? { random: chaos.random } : {}),
              ...(chaos.injected ? { injected: chaos.injected } : {}),
            },
          }
        : {}),
      log,
    });
    driver.start();
    cleanups.push(() => driver.stop());

    // The sweeper's EventBridge schedule: the same handler on a timer (an overlapping run is skipped).
    const sweepEverySeconds = options.sweepIntervalSeconds ?? SWEEPER.scheduleMinutes * 60;
    let sweeping = false;
    const sweepTimer = setInterval(() => {
      if (sweeping) return;
      sweeping = true;
      invokeHandler(queueTarget('sweeper'), scheduledEvent(resources.accountId))
        .catch((error) => log.error('sweeper run failed', { error: String(error) }))
        .finally(() => {
          sweeping = false;
        });
    }, sweepEverySeconds * 1000);
    sweepTimer.unref();
    cleanups.push(() => clearInterval(sweepTimer));

    const issuer = options.auth ? await startLocalIssuer(options.auth) : undefined;
    if (issuer) cleanups.push(() => issuer.close());
    const webConsole = options.webConsole ?? true;
    const api = await startHttpApi({
      routes: ROUTES,
      invoke: (functionName, event) => invokeHandler(targetOf(functionName), event),
      accountId: resources.accountId,
      port: options.port,
      maxBodyBytes: options.maxBodyBytes,
      ...(issuer ? { authorize: createJwtAuthorizer(issuer) } : {}),
      ...(webConsole ? { site: consoleSite({ storageOrigins: [functionsAwsEndpoint] }) } : {}),
      log,
    });
    cleanups.push(() => api.close());
    if (webConsole) {
      // The page may be opened under either loopback name; each is an origin of its own.
      await putConsoleCors(clients.s3, resources.bucket, [api.url, `http://localhost:${api.port}`]);
    }

    const queues = {
      ...Object.fromEntries(
        Object.entries(resources.queues).flatMap(([name, queue]) => [
          [name, queue.url],
          [`${name}Dlq`, queue.dlq.url],
        ]),
      ),
      snsObserver: resources.observers.sns.url,
      eventsObserver: resources.observers.events.url,
    } as LocalQueueUrls;
    return {
      apiUrl: api.url,
      ...(webConsole ? { consoleUrl: `${api.url}${CONSOLE_PATH}` } : {}),
      awsEndpoint,
      region: LOCAL_REGION,
      accountId: resources.accountId,
      stackName,
      bucket: resources.bucket,
      table: resources.table,
      topicArn: resources.topicArn,
      eventBusName: resources.eventBusName,
      queues,
      runComfy: { baseUrl: runComfy.baseUrl, simulated: runComfy.simulated },
      webhookSigningSecret: functionEnv[ENV.webhookSigningSecret] ?? webhookSigningSecret,
      ...(issuer ? { auth: { ...issuer, adminScope: functionEnv[ENV.adminScope] } } : {}),
      ...(simulator ? { simulator } : {}),
      clients,
      invoke: (functionName, event) => {
        if (!(functionName in FUNCTIONS)) throw new TypeError(`unknown function ${functionName}`);
        return invokeHandler(targetOf(functionName), event);
      },
      idle: () => driver.idle(),
      drain: (drainOptions) => driver.drain(drainOptions),
      receiveObserved: (observer, receiveOptions) =>
        receiveObserved(
          clients,
          observer === 'sns' ? queues.snsObserver : queues.eventsObserver,
          receiveOptions,
        ),
      stop: cleanUp,
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

async function startProjectSimulator(options: Partial<SimulatorOptions> | undefined): Promise<Simulator> {
  // Imported on demand: with a real RunComfy the simulator (and sharp) are never loaded.
  const { startSimulator } = await import('../simulator/index.ts');
  // `s3://` inputs reach RunComfy as presigned URLs, which locally point at moto over plain http.
  return startSimulator({ ...options, knobs: { allow_http_inputs: true, ...options?.knobs } });
}

/** The event an EventBridge schedule delivers to its target. */
function scheduledEvent(accountId: string) {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: accountId,
    time: new Date().toISOString(),
    region: LOCAL_REGION,
    resources: [`arn:aws:events:${LOCAL_REGION}:${accountId}:rule/sweeper-schedule`],
    detail: {},
  };
}
