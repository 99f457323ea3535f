import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { ENV, FUNCTIONS, type FunctionName, METRIC_IDENTITY } from '../contract/index.ts';
import { nodejsBundling, SOURCE_MAP_ENVIRONMENT } from '../infra/defaults/lambda-defaults.ts';
import { lambdaEsbuildOptions } from '../scripts/lambda-assets.ts';
import { type GoalFigure, goal } from './lib/goals.ts';
import { nodeBinary } from './lib/node-binary.ts';
import { SeededRandom } from './lib/random.ts';
import { median, round, type Spread, spread } from './lib/stats.ts';
import { barChart } from './lib/svg.ts';

/*
 * Cold-start benchmark: each function bundled exactly as the stack's assets are
 * (`lambdaEsbuildOptions()` of scripts/lambda-assets.ts: one directory per function, chunks split
 * at `import()`), then imported in fresh Node processes with the deployed NODE_OPTIONS
 * (--enable-source-maps; also without, for comparison). Its yardstick, bundled the same way in
 * the same run: a reference bundle holding only the AWS SDK clients the function must call on its
 * hot path, each made at init as the functions make theirs. Init = median CPU time of
 * `node index.mjs` minus the median of a bare `node -e 0` (wall time shown too); every process
 * of a round is interleaved with the others, in an order shuffled anew for each pass (seeded), so
 * that drift on the machine, and a process's place after another, hits all alike; each round
 * gives one ratio per function: the median over the rounds is judged, and the spread and the
 * machine's load during each round are reported.
 */

const REPO_ROOT = resolve(import.meta.dirname, '..');
/** Every function's init over its reference's; the poller, which runs most often, at the reference. */
export const INIT_RATIO_GOAL = 1.15;
export const POLLER_INIT_RATIO_GOAL = 1.0;

type Client = 'dynamodb' | 'sqs' | 's3' | 'sns' | 'eventbridge' | 'secrets-manager';

/**
 * The AWS clients each function calls on its hot path (what a typical invocation sends):
 * submit records the job and nudges the dispatcher; jobs reads jobs, presigns output URLs and
 * uploads (S3), cancels and resends through SQS; poller and sweeper read and write jobs and
 * schedule messages; result copies into S3 and notifies on SNS and EventBridge; webhook reads the
 * signing secret it signs every delivery with; batch reads manifests and writes results in S3 and
 * creates jobs. Rare paths (an `s3://` input's presigning in a
 * poller, a sweeper's clean-up, the RunComfy token read once per 5 minutes) are not hot.
 */
export const HOT_PATH_CLIENTS: Record<FunctionName, readonly Client[]> = {
  submit: ['dynamodb', 'sqs'],
  jobs: ['dynamodb', 'sqs', 's3'],
  poller: ['dynamodb', 'sqs'],
  result: ['dynamodb', 'sqs', 's3', 'sns', 'eventbridge'],
  webhook: ['dynamodb', 'sqs', 'secrets-manager'],
  sweeper: ['dynamodb', 'sqs'],
  batch: ['dynamodb', 'sqs', 's3'],
};

const CLIENT_SOURCE: Record<Client, { imports: string; make: string; call: string }> = {
  dynamodb: {
    imports: `import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';`,
    make: 'const dynamodb = DynamoDBDocumentClient.from(new DynamoDBClient({}));',
    call: "await dynamodb.send(new GetCommand({ TableName: 'jobs', Key: { pk: 'x' } }));",
  },
  sqs: {
    imports: "import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';",
    make: 'const sqs = new SQSClient({});',
    call: "await sqs.send(new SendMessageCommand({ QueueUrl: 'https://sqs.us-east-1.amazonaws.com/0/q', MessageBody: '{}' }));",
  },
  s3: {
    imports: "import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';",
    make: 'const s3 = new S3Client({});',
    call: "await s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' }));",
  },
  sns: {
    imports: "import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';",
    make: 'const sns = new SNSClient({});',
    call: "await sns.send(new PublishCommand({ TopicArn: 'arn:aws:sns:us-east-1:0:t', Message: '{}' }));",
  },
  eventbridge: {
    imports: "import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';",
    make: 'const eventbridge = new EventBridgeClient({});',
    call: 'await eventbridge.send(new PutEventsCommand({ Entries: [] }));',
  },
  'secrets-manager': {
    imports: "import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';",
    make: 'const secrets = new SecretsManagerClient({});',
    call: "await secrets.send(new GetSecretValueCommand({ SecretId: 's' }));",
  },
};

function referenceSource(clients: readonly Client[]): string {
  const parts = clients.map((client) => CLIENT_SOURCE[client]);
  return [
    ...parts.map((p) => p.imports),
    ...parts.map((p) => p.make),
    'export const handler = async () => {',
    ...parts.map((p) => `  ${p.call}`),
    '};',
    '',
  ].join('\n');
}

const referenceName = (clients: readonly Client[]) => `ref-${clients.join('+')}`;

export interface ColdStartOptions {
  /** Rounds (each gives one ratio per function). @default 9 */
  rounds?: number;
  /** Processes per bundle, mode and round (their median is the round's figure). @default 5 */
  runsPerRound?: number;
}

export interface ModuleShare {
  module: string;
  bytes: number;
}

export interface BundleFigures {
  /** index.mjs and the chunks it imports statically: what a cold start reads. */
  initBytes: number;
  /** Everything in the asset, lazily imported chunks included (source maps excluded). */
  totalBytes: number;
  files: number;
  /** CPU ms over bare node's, median over the rounds, source maps on (the deployed setting). */
  initMs: number;
  /** The same in wall time (all runs pooled): what a loaded machine makes of it. */
  initWallMs: number;
  initMsWithoutSourceMaps: number;
  initMsPerRound: number[];
}

export interface FunctionColdStart extends BundleFigures {
  function: FunctionName;
  reference: string;
  clients: readonly Client[];
  /** Init over its reference's, one per round. */
  ratio: Spread;
  ratioWithoutSourceMaps: Spread;
  goalRatio: number;
  goalMet: boolean;
  /** The largest modules read at cold start (by bytes in the output), from esbuild's metafile. */
  largestModules: ModuleShare[];
  /** The same, by npm package (the project's own code as `(project)`). */
  largestPackages: ModuleShare[];
}

export interface ColdStartResult {
  nodeBinary: string;
  nodeVersion: string;
  rounds: number;
  runsPerRound: number;
  /** The 1-minute load average as each round began (2 cores shared: the noise to read the spread by). */
  loadAverage1m: Spread & { perRound: number[] };
  bareNodeMs: number;
  bareNodeMsWithSourceMaps: number;
  esbuild: Record<string, unknown>;
  functions: FunctionColdStart[];
  references: Record<string, BundleFigures & { clients: readonly Client[]; largestPackages: ModuleShare[] }>;
  /** Where the bundles and their esbuild metafiles are left for inspection. */
  bundlesDir: string;
  goalMet: boolean;
}

/**
 * What the deployed functions find in their environment (names from contract/), with
 * dummy values: enough for every handler's top-level code to succeed without a network.
 */
export function deployedLikeEnvironment(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_LAMBDA_FUNCTION_NAME: 'bench',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
    [ENV.jobsTable]: 'bench-jobs',
    [ENV.pollQueueUrl]: 'https://sqs.us-east-1.amazonaws.com/000000000000/bench-poll',
    [ENV.resultQueueUrl]: 'https://sqs.us-east-1.amazonaws.com/000000000000/bench-result',
    [ENV.webhookQueueUrl]: 'https://sqs.us-east-1.amazonaws.com/000000000000/bench-webhook',
    [ENV.outputBucket]: 'bench-outputs',
    [ENV.topicArn]: 'arn:aws:sns:us-east-1:000000000000:bench',
    [ENV.eventBusName]: 'bench',
    [ENV.runComfyTokenSecretArn]: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:bench-token',
    [ENV.webhookSecretArn]: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:bench-webhook',
    [ENV.listCursorSecretArn]: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:bench-cursor',
    POWERTOOLS_SERVICE_NAME: METRIC_IDENTITY.serviceName,
    POWERTOOLS_METRICS_NAMESPACE: METRIC_IDENTITY.namespace,
    POWERTOOLS_LOG_LEVEL: 'INFO',
  };
}

export async function runColdStartBenchmark(options: ColdStartOptions = {}): Promise<ColdStartResult> {
  const rounds = Math.max(3, options.rounds ?? 9);
  const runsPerRound = Math.max(3, options.runsPerRound ?? 5);
  const node = nodeBinary();
  const nodeVersion = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const outDir = join(REPO_ROOT, 'bench', '.work', 'cold-start');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });

  const names = Object.keys(FUNCTIONS) as FunctionName[];
  const references = new Map<string, readonly Client[]>();
  for (const name of names) references.set(referenceName(HOT_PATH_CLIENTS[name]), HOT_PATH_CLIENTS[name]);
  const bundles = new Map<string, { file: string; metafile: Metafile }>();
  const bundle = async (key: string, entry: string) => {
    const directory = join(outDir, key);
    const built = await build({
      ...lambdaEsbuildOptions(),
      entryPoints: { index: entry },
      outdir: directory,
      metafile: true,
      logLevel: 'silent',
    });
    writeFileSync(join(directory, 'index.meta.json'), JSON.stringify(built.metafile));
    bundles.set(key, { file: join(directory, 'index.mjs'), metafile: built.metafile! });
  };
  for (const name of names) await bundle(name, join(REPO_ROOT, FUNCTIONS[name].entry));
  for (const [key, clients] of references) {
    const entry = join(outDir, `${key}.ts`);
    writeFileSync(entry, referenceSource(clients));
    await bundle(key, entry);
  }

  const env = deployedLikeEnvironment();
  const withMaps = { ...env, ...SOURCE_MAP_ENVIRONMENT };
  // Every bundle must import cleanly, or its timing would measure a crash.
  for (const [key, { file }] of bundles) {
    const check = spawnSync(node, [file], { env: withMaps, encoding: 'utf8' });
    if (check.status !== 0) {
      throw new Error(
        `${key}: import failed: ${(check.stderr || check.stdout).trim().split('\n').slice(-3).join(' ')}`,
      );
    }
  }

  // The process reports the CPU it used (every thread: parse, compile, evaluation, GC) as it
  // exits. On a shared machine a process's CPU time hardly moves with the load, where its wall
  // time may double; in Lambda, init has the CPU to itself, so its wall time is close to this.
  const reporter = join(outDir, 'cpu-report.mjs');
  writeFileSync(
    reporter,
    "process.on('exit', () => { const u = process.cpuUsage(); process.stderr.write('cpu-ms ' + (u.user + u.system) / 1000 + '\\n'); });\n",
  );
  const wall = new Map<string, number[]>();
  const time = (key: string, args: string[], environment: Record<string, string>) => {
    const start = process.hrtime.bigint();
    const run = spawnSync(node, ['--import', pathToFileURL(reporter).href, ...args], {
      env: environment,
      encoding: 'utf8',
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const cpu = Number(/cpu-ms ([\d.]+)/.exec(run.stderr)?.[1]);
    if (run.status !== 0 || !Number.isFinite(cpu)) throw new Error(`${key}: node exited ${run.status}`);
    wall.set(key, [...(wall.get(key) ?? []), ms]);
    return cpu;
  };
  // Warm the file cache and the binary once, untimed.
  for (const { file } of bundles.values()) spawnSync(node, [file], { env, stdio: 'ignore' });
  const perRound: Map<string, number>[] = [];
  const perRoundNoMaps: Map<string, number>[] = [];
  const bare: number[] = [];
  const bareMaps: number[] = [];
  const load: number[] = [];
  // Every process of a pass: bare node and each bundle, with and without source maps.
  const processes = [
    { key: 'bare', args: ['-e', '0'], environment: env },
    { key: 'bare+maps', args: ['-e', '0'], environment: withMaps },
    ...[...bundles].flatMap(([key, { file }]) => [
      { key: `${key}+maps`, args: [file], environment: withMaps },
      { key, args: [file], environment: env },
    ]),
  ];
  const random = new SeededRandom(20_261_204);
  for (let round = 0; round < rounds; round++) {
    load.push(loadNow());
    const samples = new Map<string, number[]>();
    const add = (key: string, ms: number) => samples.set(key, [...(samples.get(key) ?? []), ms]);
    for (let run = 0; run < runsPerRound; run++) {
      for (const { key, args, environment } of shuffled(processes, random))
        add(key, time(key, args, environment));
    }
    const bareMs = median(samples.get('bare')!);
    const bareMapsMs = median(samples.get('bare+maps')!);
    bare.push(bareMs);
    bareMaps.push(bareMapsMs);
    perRound.push(
      new Map([...bundles.keys()].map((key) => [key, median(samples.get(`${key}+maps`)!) - bareMapsMs])),
    );
    perRoundNoMaps.push(new Map([...bundles.keys()].map((key) => [key, median(samples.get(key)!) - bareMs])));
  }

  const figures = (key: string): BundleFigures => {
    const { metafile } = bundles.get(key)!;
    const { loaded, all } = outputsOf(metafile);
    const initMsPerRound = perRound.map((r) => round(r.get(key)!, 1));
    return {
      initBytes: loaded.reduce((sum, output) => sum + metafile.outputs[output]!.bytes, 0),
      totalBytes: all.reduce((sum, output) => sum + metafile.outputs[output]!.bytes, 0),
      files: all.length,
      initMs: round(median(initMsPerRound), 1),
      initMsWithoutSourceMaps: round(median(perRoundNoMaps.map((r) => r.get(key)!)), 1),
      initMsPerRound,
      initWallMs: round(median(wall.get(`${key}+maps`)!) - median(wall.get('bare+maps')!), 1),
    };
  };
  const functions: FunctionColdStart[] = names.map((name) => {
    const reference = referenceName(HOT_PATH_CLIENTS[name]);
    const goalRatio = name === 'poller' ? POLLER_INIT_RATIO_GOAL : INIT_RATIO_GOAL;
    const ratio = spread(perRound.map((r) => r.get(name)! / r.get(reference)!));
    const { metafile } = bundles.get(name)!;
    return {
      function: name,
      reference,
      clients: HOT_PATH_CLIENTS[name],
      ...figures(name),
      ratio,
      ratioWithoutSourceMaps: spread(perRoundNoMaps.map((r) => r.get(name)! / r.get(reference)!)),
      goalRatio,
      goalMet: ratio.median <= goalRatio,
      largestModules: largestAtInit(metafile, 3, (path) => path.replace(/^.*node_modules\//, '')),
      largestPackages: largestAtInit(metafile, 6, packageOf),
    };
  });

  const bundling = nodejsBundling();
  return {
    nodeBinary: node.startsWith(REPO_ROOT) ? node.slice(REPO_ROOT.length + 1) : node,
    nodeVersion,
    rounds,
    runsPerRound,
    loadAverage1m: { ...spread(load, 2), perRound: load },
    bareNodeMs: round(median(bare), 1),
    bareNodeMsWithSourceMaps: round(median(bareMaps), 1),
    esbuild: {
      format: bundling.format,
      target: bundling.target,
      minify: bundling.minify,
      sourcemap: bundling.sourceMap,
      sourcesContent: bundling.sourcesContent,
      mainFields: bundling.mainFields,
      bundleAwsSDK: bundling.bundleAwsSDK,
      externalModules: bundling.externalModules,
      esbuildArgs: bundling.esbuildArgs,
      banner: Boolean(bundling.banner),
    },
    functions,
    references: Object.fromEntries(
      [...references].map(([key, clients]) => [
        key,
        {
          clients,
          ...figures(key),
          largestPackages: largestAtInit(bundles.get(key)!.metafile, 6, packageOf),
        },
      ]),
    ),
    bundlesDir: outDir.slice(REPO_ROOT.length + 1),
    goalMet: functions.every((f) => f.goalMet),
  };
}

export function coldStartGoals(cold: ColdStartResult): GoalFigure[] {
  return cold.functions.map((f) =>
    goal({
      id: `cold-start.${f.function}.init-ratio`,
      label: `cold start (${f.function}): init / its SDK clients alone`,
      unit: '×',
      figure: f.ratio,
      goal: { op: '<=', value: f.goalRatio },
      baseline: `a bundle of only ${f.clients.join(' + ')} clients, same settings, same rounds`,
    }),
  );
}

/** The 1-minute load average, as the report shows it. */
const loadNow = () => round(loadavg()[0] ?? 0, 2);

/** A copy of `items` in a random order (Fisher–Yates). */
function shuffled<T>(items: readonly T[], random: SeededRandom): T[] {
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index--) {
    const other = Math.floor(random.next() * (index + 1));
    [copy[index], copy[other]] = [copy[other]!, copy[index]!];
  }
  return copy;
}

/** The output files a cold start reads (index.mjs and its static imports), and all of them. */
function outputsOf(metafile: Metafile): { loaded: string[]; all: string[] } {
  const all = Object.keys(metafile.outputs).filter((path) => !path.endsWith('.map'));
  const entry = all.find((path) => path.endsWith('/index.mjs'))!;
  const loaded = new Set<string>();
  const stack = [entry];
  while (stack.length > 0) {
    const output = stack.pop()!;
    if (loaded.has(output)) continue;
    loaded.add(output);
    for (const imported of metafile.outputs[output]!.imports) {
      if (imported.kind === 'import-statement' && !imported.external) stack.push(imported.path);
    }
  }
  return { loaded: [...loaded], all };
}

/** Bytes in the outputs read at cold start, grouped by `keyOf(input path)`, largest first. */
function largestAtInit(metafile: Metafile, top: number, keyOf: (path: string) => string): ModuleShare[] {
  const totals = new Map<string, number>();
  for (const output of outputsOf(metafile).loaded) {
    for (const [path, input] of Object.entries(metafile.outputs[output]!.inputs)) {
      const key = keyOf(path);
      totals.set(key, (totals.get(key) ?? 0) + input.bytesInOutput);
    }
  }
  return [...totals.entries()]
    .map(([module, bytes]) => ({ module, bytes }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, top);
}

function packageOf(path: string): string {
  const marker = 'node_modules/';
  const at = path.lastIndexOf(marker);
  if (at === -1) return '(project)';
  const [first, second] = path.slice(at + marker.length).split('/');
  return first?.startsWith('@') ? `${first}/${second}` : (first ?? path);
}

export function coldStartCharts(result: ColdStartResult): Record<string, string> {
  const refs = Object.entries(result.references);
  return {
    'cold-start-init.svg': barChart({
      title: `Module init / its SDK clients' reference (${result.nodeVersion}, median of ${result.rounds} rounds)`,
      unit: 'init ratio',
      bars: result.functions.map((f) => ({
        label: f.function,
        value: f.ratio.median,
        color: f.goalMet ? '#2f9e44' : '#e03131',
        note: `${f.ratio.median.toFixed(2)}× (${f.initMs} ms; goal ≤ ${f.goalRatio})`,
      })),
      goals: [
        { value: POLLER_INIT_RATIO_GOAL, label: `poller ${POLLER_INIT_RATIO_GOAL}×` },
        { value: INIT_RATIO_GOAL, label: `${INIT_RATIO_GOAL}×` },
      ],
      digits: 2,
    }),
    'bundle-size.svg': barChart({
      title: 'Bytes read at cold start (minified ESM, stack settings)',
      unit: 'KB',
      bars: [
        ...result.functions.map((f) => ({
          label: f.function,
          value: f.initBytes / 1000,
          color: '#4c6ef5',
          note: `${(f.initBytes / 1000).toFixed(0)} KB (all chunks ${(f.totalBytes / 1000).toFixed(0)} KB)`,
        })),
        ...refs.map(([key, r]) => ({
          label: key.replace(/^ref-/, 'ref '),
          value: r.initBytes / 1000,
          color: '#868e96',
          note: `${(r.initBytes / 1000).toFixed(0)} KB`,
        })),
      ],
    }),
  };
}
