/**
 * `npm start`: the whole pipeline on this machine (moto for AWS, the RunComfy simulator unless
 * RUNCOMFY_API_TOKEN is set), until Ctrl-C.
 *
 * Environment:
 * - PORT: HTTP API port [3000; an ephemeral one if taken]
 * - RUNCOMFY_API_TOKEN (+ optional RUNCOMFY_BASE_URL): use the real RunComfy Model API
 * - LOCAL_RETRY_DELAY_SECONDS: redeliver failed SQS messages after this many seconds instead
 *   of the queue's visibility timeout (minutes, as in AWS)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { ENV, EVENTS } from '../contract/index.ts';
import { type LocalPipeline, type LocalPipelineOptions, startLocalPipeline } from './pipeline.ts';

const STACK_FILE = resolve(import.meta.dirname, '..', '.local', 'stack.json');
const DEFAULT_PORT = 3000;
const REAL_RUNCOMFY_URL = 'https://model-api.runcomfy.net';

async function main(): Promise<void> {
  const options = await optionsFromEnvironment(process.env);
  const startedAt = performance.now();
  console.log('Starting the local pipeline (moto, resources, handlers)...');
  const pipeline = await startLocalPipeline(options);
  writeStackFile(pipeline);
  printSummary(pipeline, performance.now() - startedAt, options.retryDelaySeconds);
  stopOnSignals(pipeline);
}

async function optionsFromEnvironment(env: NodeJS.ProcessEnv): Promise<LocalPipelineOptions> {
  const token = env[ENV.runComfyApiToken];
  const wantedPort = env.PORT ? Number(env.PORT) : DEFAULT_PORT;
  if (!Number.isInteger(wantedPort) || wantedPort < 0 || wantedPort > 65_535) {
    throw new Error(`PORT must be a port number, got ${env.PORT}`);
  }
  const port = (await isPortFree(wantedPort)) ? wantedPort : 0;
  if (port !== wantedPort) console.log(`Port ${wantedPort} is taken; using an ephemeral port.`);
  const retryDelay = env.LOCAL_RETRY_DELAY_SECONDS;
  return {
    port,
    ...(token ? { runComfy: { baseUrl: env[ENV.runComfyBaseUrl] || REAL_RUNCOMFY_URL, token } } : {}),
    ...(retryDelay ? { retryDelaySeconds: Number(retryDelay) } : {}),
    // Readable, indented logs for a person; it also keeps Powertools metrics off the console.
    extraEnv: { POWERTOOLS_DEV: env.POWERTOOLS_DEV ?? 'true' },
  };
}

function isPortFree(port: number): Promise<boolean> {
  if (port === 0) return Promise.resolve(true);
  return new Promise((answer) => {
    const probe = createServer();
    probe.once('error', () => answer(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => answer(true)));
  });
}

function stackDescription(pipeline: LocalPipeline) {
  return {
    apiUrl: pipeline.apiUrl,
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
  };
}

function writeStackFile(pipeline: LocalPipeline): void {
  mkdirSync(resolve(STACK_FILE, '..'), { recursive: true });
  writeFileSync(STACK_FILE, `${JSON.stringify(stackDescription(pipeline), null, 2)}\n`);
}

function printSummary(
  pipeline: LocalPipeline,
  startupMs: number,
  retryDelaySeconds: number | undefined,
): void {
  const api = pipeline.apiUrl;
  const aws = `AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws --endpoint-url ${pipeline.awsEndpoint} --region ${pipeline.region}`;
  const runComfy = pipeline.runComfy.simulated
    ? `the RunComfy simulator at ${pipeline.runComfy.baseUrl} (admin API: ${pipeline.runComfy.baseUrl}/__sim)`
    : `the REAL RunComfy Model API at ${pipeline.runComfy.baseUrl} (token from ${ENV.runComfyApiToken}; jobs cost money)`;
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
  console.log(`
Local pipeline ready in ${(startupMs / 1000).toFixed(1)} s, using ${runComfy}.
Failed SQS messages are retried ${retries}.

  API           ${api}
  AWS (moto)    ${pipeline.awsEndpoint}  region ${pipeline.region}
  Table         ${pipeline.table}
  Bucket        ${pipeline.bucket}
  Topic         ${pipeline.topicArn}
  Event bus     ${pipeline.eventBusName}
  Stack file    ${STACK_FILE}

Submit an edit:
  curl -si -X POST ${api}/edits -H 'content-type: application/json' -H 'idempotency-key: demo-1' \\
    -d '${JSON.stringify(request)}'

Or submit through the bus, as an integrator would:
  ${aws} events put-events --entries '${busEntry}'

Check it (and cancel it while queued):
  curl -s ${api}/edits/<id>
  curl -s -X POST ${api}/edits/<id>/cancel

See what it produced and announced:
  ${aws} s3 ls s3://${pipeline.bucket} --recursive
  ${aws} sqs receive-message --queue-url ${pipeline.queues.snsObserver} --max-number-of-messages 10
  ${aws} sqs receive-message --queue-url ${pipeline.queues.eventsObserver} --max-number-of-messages 10
  ${aws} sqs get-queue-attributes --queue-url ${pipeline.queues.pollDlq} --attribute-names ApproximateNumberOfMessages

Ctrl-C stops everything.
`);
}

function stopOnSignals(pipeline: LocalPipeline): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      console.log('Forced exit.');
      process.exit(130);
    }
    stopping = true;
    console.log(`\n${signal}: stopping (Ctrl-C again to force)...`);
    pipeline.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('Stopped with errors:', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(
    `Could not start the local pipeline: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
});
