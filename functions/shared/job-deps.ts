import { createDynamoDocumentClient, createSqsClient } from '#adapters/aws/base-clients';
import { DynamoAdmissionStore } from '#adapters/aws/dynamo-admission';
import { DynamoBatchStore } from '#adapters/aws/dynamo-batch-store';
import { DynamoJobStore } from '#adapters/aws/dynamo-job-store';
import { SqsJobQueues } from '#adapters/aws/sqs-job-queues';
import { RUNCOMFY_TIMING } from '#contract/budgets';
import type { Config } from '#contract/config';
import type { FunctionName } from '#contract/resources';
import { systemClock } from '#core/clock';
import { parseS3Allowlist, resolveImageUrls } from '#core/inputs/s3-inputs';
import type { JobDeps } from '#core/jobs/deps';
import type { BatchNotifier, Notifier, Presigner, RunComfy } from '#core/ports';
import type { RunComfyClient } from '#core/runcomfy/client';
import { logger, metricSink } from './powertools.ts';
import { runComfyTokenSource } from './runcomfy-token.ts';

export interface JobDepsOptions {
  /**
   * A notifier made at init, for a function that notifies on its common path (the result stage);
   * the others load theirs — the SNS and EventBridge clients — on first use.
   */
  notifier?: Notifier;
  /**
   * The RunComfy client, for the functions that call RunComfy on every invocation (the poller,
   * the result stage); the others (a cancel, a sweep) pass `loadRunComfyClient` of
   * `./lazy-runcomfy.ts` and load it, and its response schemas, on first use. Neither: RunComfy
   * is refused. Passed in, not imported here, for the reason `presigner` is.
   */
  runComfyClient?: typeof RunComfyClient;
  loadRunComfyClient?: () => Promise<typeof RunComfyClient>;
  /**
   * How `s3://` inputs become URLs RunComfy can fetch, for the functions that send jobs upstream
   * (poller, sweeper, result): `lazyPresigner()` of `./lazy-s3.ts`, or a presigner made at init.
   * Without it an `s3://` input is refused: no other function resolves inputs. It is passed in,
   * not imported here, because an `import()` of the S3 client in a bundle that has no S3 at init
   * puts the S3 code its chunk shares with the bundle (XML protocol, checksum streams) in the chunks
   * read at cold start: the submit function, which never presigns, parsed ~16 KB of it at init.
   */
  presigner?: () => Promise<Presigner>;
}

/**
 * Builds the job core's dependencies for one function from the validated settings, once per
 * container: the AWS adapters, and a RunComfy client timed by the function's budget. The local
 * runtime runs the same handlers, so it builds them the same way.
 *
 * At cold start only what every invocation uses is loaded — the DynamoDB and SQS clients. What
 * only some jobs need is loaded by its first use (each a module the bundle evaluates then): the
 * S3 client and presigner (`s3://` inputs, `options.presigner`), the notifier's SNS and
 * EventBridge clients (lifecycle events and completions, unless `options.notifier`), the RunComfy
 * client and its response schemas (`options.loadRunComfyClient`), and `fetch` itself (Node loads its HTTP client when
 * `globalThis.fetch` is first read).
 */
export function createJobDeps(config: Config, fn: FunctionName, options: JobDepsOptions = {}): JobDeps {
  const sqs = createSqsClient();
  const dynamo = createDynamoDocumentClient();
  const { presigner } = options;
  return {
    config,
    clock: systemClock,
    log: logger,
    metrics: metricSink,
    store: new DynamoJobStore(dynamo, config.jobsTable, config.jobRetentionDays),
    admission: new DynamoAdmissionStore(dynamo, config.jobsTable),
    // A batch job that ends is counted in its batch, whichever function ends it.
    batches: new DynamoBatchStore(dynamo, config.jobsTable, config.jobRetentionDays),
    queues: new SqsJobQueues(sqs, {
      poll: config.pollQueueUrl,
      result: config.resultQueueUrl,
      webhook: config.webhookQueueUrl,
      batch: config.batchQueueUrl,
    }),
    runComfy: runComfyFor(config, fn, options),
    inputs: {
      policy: parseS3Allowlist(config.inputS3Allowlist, {
        bucket: config.outputBucket,
        prefix: config.uploadPrefix,
      }),
      resolve: async (imageUrls) => {
        if (!imageUrls.some((url) => url.startsWith('s3://'))) return [...imageUrls];
        if (!presigner) throw new Error(`the ${fn} function does not resolve s3:// inputs`);
        return resolveImageUrls(imageUrls, await presigner());
      },
    },
    notifier: options.notifier ?? lazyNotifier(config),
  };
}

/** The notifier, its SNS and EventBridge clients made on first use. */
function lazyNotifier(config: Config): Notifier & BatchNotifier {
  const notifier = onFirstUse(async () => {
    const { createAwsNotifier } = await import('#adapters/aws/aws-notifier');
    return createAwsNotifier({ topicArn: config.topicArn, eventBusName: config.eventBusName });
  });
  return {
    completed: async (job) => (await notifier()).completed(job),
    announce: async (event) => (await notifier()).announce(event),
    batchCompleted: async (event) => (await notifier()).batchCompleted(event),
  };
}

/** `make()` once, on the first call; a failed attempt is forgotten, so the next call tries again. */
export function onFirstUse<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= make().catch((error: unknown) => {
      made = undefined;
      throw error;
    });
    return made;
  };
}

/**
 * RunComfy for `fn`, timed by its budget; a function without one, or given no client, never calls
 * RunComfy.
 */
function runComfyFor(config: Config, fn: FunctionName, options: JobDepsOptions): RunComfy {
  const timing = RUNCOMFY_TIMING[fn];
  const { runComfyClient: eager, loadRunComfyClient: load } = options;
  if (!timing || !(eager || load)) {
    const refuse = async (): Promise<never> => {
      throw new Error(`the ${fn} function does not call RunComfy`);
    };
    return { submit: refuse, status: refuse, result: refuse, cancel: refuse };
  }
  const make = (Client: typeof RunComfyClient) =>
    new Client({
      baseUrl: config.runComfyBaseUrl,
      token: runComfyTokenSource(config),
      log: logger,
      // Read at each call, not here: reading `globalThis.fetch` loads Node's HTTP client (undici).
      fetch: (input, init) => globalThis.fetch(input, init),
      ...timing,
    });
  if (eager) return make(eager);
  const client = onFirstUse(async () => make(await (load as () => Promise<typeof RunComfyClient>)()));
  return {
    submit: async (input) => (await client()).submit(input),
    status: async (requestId) => (await client()).status(requestId),
    result: async (requestId) => (await client()).result(requestId),
    cancel: async (requestId) => (await client()).cancel(requestId),
  };
}
