/**
 * `npm start`: the whole pipeline on this machine (moto for AWS, the RunComfy simulator unless
 * RUNCOMFY_API_TOKEN is set), until Ctrl-C, SIGTERM or SIGHUP, or until the process that started
 * it (npm) is gone. Stopping removes the stack file and stops moto and the simulator.
 *
 * Environment:
 * - every setting the deployed functions read (contract `ENV`; README "Configuration
 *   (environment)"): passed to the functions and checked by their own loader before anything runs
 * - RUNCOMFY_API_TOKEN (+ optional RUNCOMFY_BASE_URL): use that RunComfy instead of the simulator
 * - PORT: HTTP API port [3000; an ephemeral one if taken; 0 for any]
 * - LOCAL_RETRY_DELAY_SECONDS: redeliver failed SQS messages after this many seconds instead
 *   of the queue's visibility timeout (minutes, as in AWS)
 * - LOCAL_STACK_FILE: where to describe the running stack [.local/stack.json]
 * - API_AUTH=jwt (+ LOCAL_JWT_ISSUER, LOCAL_JWT_AUDIENCE): bearer tokens of a local issuer on
 *   every route; `npm run token` mints them with the key written beside the stack file
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { ENV, EVENTS } from '../contract/index.ts';
import { writeSigningKeyFile } from './jwt-token.ts';
import { type LocalPipeline, startLocalPipeline } from './pipeline.ts';
import { RUNTIME_ENV } from './runtime-env.ts';
import { planFromEnvironment } from './start-environment.ts';
import { probeUpstream } from './upstream-probe.ts';

const STACK_FILE = resolve(
  process.env[RUNTIME_ENV.stackFile] || resolve(import.meta.dirname, '..', '.local', 'stack.json'),
);
/**
 * In JWT mode, the issuer's private key for `npm run token`: beside the stack file (which names
 * it), readable by this user only, removed with the stack file. A new one at every start.
 */
const SIGNING_KEY_FILE = resolve(dirname(STACK_FILE), `${basename(STACK_FILE, '.json')}.signing-key.json`);
/** How often the parent is checked for; a re-parented runtime stops within this. */
const PARENT_CHECK_MS = 500;
/** A stop that takes longer than this (a stuck server) ends in a forced exit. */
const STOP_TIMEOUT_MS = 10_000;
/**
 * A second signal within this window is the same request relayed (npm forwards the SIGINT the
 * terminal already sent to the whole process group), not a person insisting.
 */
const REPEAT_SIGNAL_MS = 1_000;

let pipelineStart: Promise<LocalPipeline> | undefined;
let stackFileContent: string | undefined;
let stopping: { at: number } | undefined;

async function main(): Promise<void> {
  stopOnSignalsAndParentExit();
  const plan = await planFromEnvironment(process.env);
  for (const note of plan.notes) console.log(note);
  if (plan.passed.length > 0) console.log(`Settings from the environment: ${plan.passed.join(', ')}`);
  const startedAt = performance.now();
  console.log('Starting the local pipeline (moto, resources, handlers)...');
  const probe = plan.options.runComfy ? probeUpstream(plan.options.runComfy) : undefined;
  pipelineStart = startLocalPipeline(plan.options);
  const pipeline = await pipelineStart;
  if (stopping) return;
  writeStackFile(pipeline);
  printSummary(pipeline, performance.now() - startedAt, plan.options.retryDelaySeconds);
  // The runtime runs whatever the answer: an upstream that is down now may be up later.
  if (probe) console.log((await probe).line);
}

function stackDescription(pipeline: LocalPipeline) {
  return {
    apiUrl: pipeline.apiUrl,
    consoleUrl: pipeline.consoleUrl,
    awsEndpoint: pipeline.awsEndpoint,
    region: pipeline.region,
    accountId: pipeline.accountId,
    bucket: pipeline.bucket,
    table: pipeline.table,
    topicArn: pipeline.topicArn,
    eventBusName: pipeline.eventBusName,
    queues: pipeline.queues,
    runComfy: pipeline.runComfy,
    // A throwaway secret of this local run (never a deployed one): verify local webhook deliveries with it.
    webhookSigningSecret: pipeline.webhookSigningSecret,
    ...(pipeline.simulator ? { simulatorAdminUrl: `${pipeline.simulator.baseUrl}/__sim` } : {}),
    auth: pipeline.auth
      ? {
          mode: 'jwt',
          issuer: pipeline.auth.issuer,
          audience: pipeline.auth.audience,
          jwksUri: pipeline.auth.jwksUri,
          openIdConfigurationUrl: `${pipeline.auth.url}/.well-known/openid-configuration`,
          adminScope: pipeline.auth.adminScope,
          signingKeyFile: SIGNING_KEY_FILE,
        }
      : { mode: 'none' },
  };
}

function writeStackFile(pipeline: LocalPipeline): void {
  mkdirSync(resolve(STACK_FILE, '..'), { recursive: true });
  if (pipeline.auth) writeSigningKeyFile(SIGNING_KEY_FILE, pipeline.auth.signingKey);
  stackFileContent = `${JSON.stringify(stackDescription(pipeline), null, 2)}\n`;
  writeFileSync(STACK_FILE, stackFileContent);
}

/**
 * Removes the stack file, and in JWT mode the signing key beside it, if they are still ours
 * (another runtime may have written its own since).
 */
function removeStackFile(): void {
  if (stackFileContent === undefined) return;
  try {
    if (readFileSync(STACK_FILE, 'utf8') === stackFileContent) {
      // The key is this run's: useless to the next one, and nobody should keep minting with it.
      if (stackFileContent.includes('"signingKeyFile"')) rmSync(SIGNING_KEY_FILE, { force: true });
      rmSync(STACK_FILE, { force: true });
    }
  } catch {
    // Already gone.
  }
  stackFileContent = undefined;
}

function printSummary(
  pipeline: LocalPipeline,
  startupMs: number,
  retryDelaySeconds: number | undefined,
): void {
  const api = pipeline.apiUrl;
  const aws = `AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws --endpoint-url ${pipeline.awsEndpoint} --region ${pipeline.region}`;
  const { baseUrl, simulated } = pipeline.runComfy;
  const runComfy = simulated
    ? `the RunComfy simulator at ${baseUrl} (admin API: ${baseUrl}/__sim)`
    : new URL(baseUrl).hostname.endsWith('.runcomfy.net')
      ? `the REAL RunComfy Model API at ${baseUrl} (token from ${ENV.runComfyApiToken}; jobs cost money)`
      : `the RunComfy-compatible server at ${baseUrl} (token from ${ENV.runComfyApiToken})`;
  const retries =
    retryDelaySeconds === undefined
      ? 'after the queue visibility timeout, as in AWS (set LOCAL_RETRY_DELAY_SECONDS to shorten)'
      : `after ${retryDelaySeconds} s (LOCAL_RETRY_DELAY_SECONDS)`;
  const image = 'https://upload.wikimedia.org/wikipedia/commons/4/47/PNG_transparency_demonstration_1.png';
  const request = { prompt: 'make the dice red', image_urls: [image] };
  const busEntry = JSON.stringify([
    {
      EventBusName: pipeline.eventBusName,
      Source: 'local.demo',
      DetailType: EVENTS.jobRequested,
      Detail: JSON.stringify(request),
    },
  ]);
  // In JWT mode every call carries a token: the examples say how to get one.
  const bearer = pipeline.auth ? ` -H "authorization: Bearer $TOKEN"` : '';
  const authLines = pipeline.auth
    ? `
Auth: JWT (API_AUTH=jwt). Issuer ${pipeline.auth.issuer}, audience ${pipeline.auth.audience.join(', ')},
keys at ${pipeline.auth.jwksUri}; admin scope ${pipeline.auth.adminScope ?? '(none)'}.
  TOKEN=$(npm run -s token -- --sub alice)          # add --scope ${pipeline.auth.adminScope ?? 'admin'} for an admin
The web console asks for one under "API token".
`
    : `
Auth: none (every caller is "local" and sees every job; API_AUTH=jwt for bearer tokens).
`;
  console.log(`
Local pipeline ready in ${(startupMs / 1000).toFixed(1)} s, using ${runComfy}.
Failed SQS messages are retried ${retries}.

  API           ${api}
  Web console   ${pipeline.consoleUrl}
  AWS (moto)    ${pipeline.awsEndpoint}  region ${pipeline.region}
  Table         ${pipeline.table}
  Bucket        ${pipeline.bucket}
  Topic         ${pipeline.topicArn}
  Event bus     ${pipeline.eventBusName}
  Stack file    ${STACK_FILE}
${authLines}
Submit an edit:
  curl -si -X POST ${api}/edits${bearer} -H 'content-type: application/json' -H 'idempotency-key: demo-1' \\
    -d '${JSON.stringify(request)}'

Or submit through the bus, as an integrator would:
  ${aws} events put-events --entries '${busEntry}'

Check it (and cancel it while queued):
  curl -s${bearer} ${api}/edits/<id>
  curl -s -X POST${bearer} ${api}/edits/<id>/cancel

See what it produced and announced:
  ${aws} s3 ls s3://${pipeline.bucket} --recursive
  ${aws} sqs receive-message --queue-url ${pipeline.queues.snsObserver} --max-number-of-messages 10
  ${aws} sqs receive-message --queue-url ${pipeline.queues.eventsObserver} --max-number-of-messages 10
  ${aws} sqs get-queue-attributes --queue-url ${pipeline.queues.pollDlq} --attribute-names ApproximateNumberOfMessages

Ctrl-C (or SIGTERM, SIGHUP) stops everything and removes the stack file.
`);
}

/**
 * Stops everything once, whatever asks first: SIGINT, SIGTERM, SIGHUP, or the parent going away
 * (npm killed by a signal it does not forward, e.g. SIGHUP or SIGKILL). moto also exits by
 * itself when this process dies (see moto-server.ts); the simulator runs in this process.
 */
function stopOnSignalsAndParentExit(): void {
  // After a terminal hangs up, writing to it fails; the cleanup must still run.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (stopping && Date.now() - stopping.at > REPEAT_SIGNAL_MS) forceExit('Forced exit.');
      else stop(`${signal} received`);
    });
  }
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop(`the process that started this one (pid ${parent}) has exited`);
  }, PARENT_CHECK_MS).unref();
}

function stop(reason: string): void {
  if (stopping) return;
  stopping = { at: Date.now() };
  console.log(`\n${reason}: stopping (Ctrl-C again to force)...`);
  removeStackFile();
  setTimeout(
    () => forceExit(`Not stopped within ${STOP_TIMEOUT_MS / 1000} s; forced exit.`),
    STOP_TIMEOUT_MS,
  ).unref();
  // A start still under way is awaited, then stopped (a failed one has cleaned up after itself).
  const stopped = pipelineStart?.then(
    (pipeline) => pipeline.stop(),
    () => {},
  );
  Promise.resolve(stopped).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error('Stopped with errors:', error);
      process.exit(1);
    },
  );
}

/** moto is killed by its exit hook (and would exit by itself anyway). */
function forceExit(message: string): never {
  console.log(message);
  removeStackFile();
  process.exit(130);
}

main().catch((error: unknown) => {
  if (stopping) return;
  console.error(
    `Could not start the local pipeline: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
});
