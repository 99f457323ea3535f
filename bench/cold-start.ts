import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { ENV, FUNCTIONS, type FunctionName, METRIC_IDENTITY } from '../contract/index.ts';
import { nodejsBundling, SOURCE_MAP_ENVIRONMENT } from '../infra/defaults/lambda-defaults.ts';
import { nodeBinary } from './lib/node-binary.ts';
import { median, round } from './lib/stats.ts';
import { barChart } from './lib/svg.ts';

/*
 * Cold-start benchmark: each function bundled exactly as the stack bundles it (the options of
 * `nodejsBundling()`, turned into esbuild options the way aws-lambda-nodejs turns them into its
 * esbuild command line), then imported in fresh Node processes. Module init time is the median
 * wall time of `node index.mjs` minus the median of a bare `node -e 0`, runs interleaved so
 * that drift on the machine hits both alike. The deployed functions run with
 * NODE_OPTIONS=--enable-source-maps, so that is the headline figure; the figure without it
 * shows what the source map costs.
 */

const REPO_ROOT = resolve(import.meta.dirname, '..');
export const INIT_GOAL_MS = 40;
export const POLLER_INIT_GOAL_MS = 25;

export interface ColdStartOptions {
  /** Runs per function and mode (the median is reported). @default 15 */
  runs?: number;
  /** Packages listed per function, largest first. @default 6 */
  topPackages?: number;
}

export interface PackageShare {
  package: string;
  bytes: number;
}

export interface FunctionColdStart {
  function: FunctionName;
  entry: string;
  /** False when the entry does not exist (yet) in this tree: the function is then not measured. */
  measured: boolean;
  bundleBytes?: number;
  sourceMapBytes?: number;
  /** Median import time over bare node, with the deployed NODE_OPTIONS (source maps on). */
  initMs?: number;
  initMsWithoutSourceMaps?: number;
  goalMs: number;
  goalMet?: boolean;
  /** What the bundle is made of (bytes in the minified output), from esbuild's metafile. */
  largestPackages?: PackageShare[];
  error?: string;
}

/**
 * The issue's own yardstick, rebuilt here: a bundle with just the SQS and DynamoDB clients was
 * measured on the prototypes at ≈ 370 KB and +35 ms. Measuring the same bundle on this machine
 * tells how far this machine's milliseconds are from the ones the goals were set in.
 */
export const REFERENCE_PROTOTYPE = { bundleKB: 370, initMs: 35 } as const;

const REFERENCE_SOURCE = `import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const sqs = new SQSClient({});
export const handler = async () => {
  await documents.send(new GetCommand({ TableName: 'jobs', Key: { pk: 'x' } }));
  await sqs.send(new SendMessageCommand({ QueueUrl: 'https://sqs.us-east-1.amazonaws.com/0/q', MessageBody: '{}' }));
};
`;

export interface ReferenceBundle {
  description: string;
  bundleBytes: number;
  initMs: number;
  initMsWithoutSourceMaps: number;
  prototypeBundleKB: number;
  prototypeInitMs: number;
  /** This machine's init time of the reference over the prototypes' (> 1: slower here). */
  machineFactor: number;
}

export interface ColdStartResult {
  nodeBinary: string;
  nodeVersion: string;
  runsPerMeasurement: number;
  bareNodeMs: number;
  bareNodeMsWithSourceMaps: number;
  esbuild: Record<string, unknown>;
  functions: FunctionColdStart[];
  reference: ReferenceBundle;
  /** Where the bundles and their esbuild metafiles are left for inspection. */
  bundlesDir: string;
  goalMet: boolean;
}

/** The esbuild options aws-lambda-nodejs derives from the stack's bundling props (lib/bundling.js). */
export function esbuildOptionsFromStack(entry: string, outfile: string): BuildOptions {
  const props = nodejsBundling();
  const sdkExternals = props.bundleAwsSDK ? [] : ['@aws-sdk/*'];
  return {
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    ...(props.format ? { format: props.format as BuildOptions['format'] } : {}),
    target: props.target ?? 'node24',
    outfile,
    minify: props.minify ?? false,
    sourcemap: sourceMapOption(props),
    sourcesContent: props.sourcesContent ?? true,
    external: [...(props.externalModules ?? sdkExternals), ...(props.nodeModules ?? [])],
    ...(props.loader ? { loader: props.loader as BuildOptions['loader'] } : {}),
    ...(props.define ? { define: props.define } : {}),
    ...(props.keepNames ? { keepNames: true } : {}),
    ...(props.banner ? { banner: { js: props.banner } } : {}),
    ...(props.footer ? { footer: { js: props.footer } } : {}),
    ...(props.mainFields ? { mainFields: props.mainFields } : {}),
    ...(props.inject ? { inject: props.inject } : {}),
    absWorkingDir: REPO_ROOT,
    metafile: true,
    logLevel: 'silent',
  };
}

/** `--sourcemap` or `--sourcemap=<mode>`, as aws-lambda-nodejs passes it. */
function sourceMapOption(props: ReturnType<typeof nodejsBundling>): BuildOptions['sourcemap'] {
  if (!(props.sourceMapMode ?? props.sourceMap)) return false;
  const mode = props.sourceMapMode ?? 'default';
  return mode === 'default' ? true : (mode as 'external' | 'inline' | 'both');
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
    POWERTOOLS_SERVICE_NAME: METRIC_IDENTITY.serviceName,
    POWERTOOLS_METRICS_NAMESPACE: METRIC_IDENTITY.namespace,
    POWERTOOLS_LOG_LEVEL: 'INFO',
  };
}

export async function runColdStartBenchmark(options: ColdStartOptions = {}): Promise<ColdStartResult> {
  const runs = Math.max(11, options.runs ?? 15);
  const node = nodeBinary();
  const nodeVersion = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const outDir = join(REPO_ROOT, 'bench', '.work', 'cold-start');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const referenceEntry = join(outDir, 'reference-sqs-dynamodb.ts');
  writeFileSync(referenceEntry, REFERENCE_SOURCE);

  const results: FunctionColdStart[] = [];
  const bundles: { name: string; file: string }[] = [];
  for (const [name, definition] of Object.entries(FUNCTIONS) as [
    FunctionName,
    (typeof FUNCTIONS)[FunctionName],
  ][]) {
    const goalMs = name === 'poller' ? POLLER_INIT_GOAL_MS : INIT_GOAL_MS;
    const entry = join(REPO_ROOT, definition.entry);
    if (!existsSync(entry)) {
      results.push({
        function: name,
        entry: definition.entry,
        measured: false,
        goalMs,
        error: 'entry not found',
      });
      continue;
    }
    const file = join(outDir, name, 'index.mjs');
    mkdirSync(join(outDir, name), { recursive: true });
    try {
      const built = await build(esbuildOptionsFromStack(entry, file));
      writeFileSync(join(outDir, name, 'index.meta.json'), JSON.stringify(built.metafile));
      results.push({
        function: name,
        entry: definition.entry,
        measured: true,
        bundleBytes: statSync(file).size,
        sourceMapBytes: existsSync(`${file}.map`) ? statSync(`${file}.map`).size : 0,
        goalMs,
        largestPackages: largestPackages(built.metafile!, options.topPackages ?? 6),
      });
      bundles.push({ name, file });
    } catch (error) {
      results.push({
        function: name,
        entry: definition.entry,
        measured: false,
        goalMs,
        error: String(error),
      });
    }
  }

  const referenceFile = join(outDir, 'reference', 'index.mjs');
  await build(esbuildOptionsFromStack(referenceEntry, referenceFile));
  bundles.push({ name: 'reference', file: referenceFile });

  const env = deployedLikeEnvironment();
  const withMaps = { ...env, ...SOURCE_MAP_ENVIRONMENT };
  // Every bundle must import cleanly, or its timing would measure a crash.
  for (const bundle of bundles) {
    if (bundle.file === referenceFile) continue;
    const check = spawnSync(node, [bundle.file], { env: withMaps, encoding: 'utf8' });
    if (check.status !== 0) {
      const result = results.find((r) => r.function === bundle.name)!;
      result.measured = false;
      result.error = `import failed: ${(check.stderr || check.stdout).trim().split('\n').slice(-3).join(' ')}`;
    }
  }
  const measurable = bundles.filter(
    (bundle) => bundle.file === referenceFile || results.find((r) => r.function === bundle.name)?.measured,
  );

  const timings = new Map<string, number[]>();
  const time = (key: string, args: string[], environment: Record<string, string>) => {
    const start = process.hrtime.bigint();
    const run = spawnSync(node, args, { env: environment, stdio: 'ignore' });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (run.status !== 0) throw new Error(`${key}: node exited ${run.status}`);
    const list = timings.get(key) ?? [];
    list.push(ms);
    timings.set(key, list);
  };
  // Warm the file cache and the binary once, untimed.
  spawnSync(node, ['-e', '0'], { env, stdio: 'ignore' });
  for (let run = 0; run < runs; run++) {
    time('bare', ['-e', '0'], env);
    time('bare+maps', ['-e', '0'], withMaps);
    for (const bundle of measurable) {
      time(`${bundle.name}+maps`, [bundle.file], withMaps);
      time(bundle.name, [bundle.file], env);
    }
  }
  const bare = median(timings.get('bare') ?? []);
  const bareMaps = median(timings.get('bare+maps') ?? []);
  for (const bundle of measurable) {
    const result = results.find((r) => r.function === bundle.name);
    if (!result) continue;
    result.initMs = round(median(timings.get(`${bundle.name}+maps`)!) - bareMaps, 1);
    result.initMsWithoutSourceMaps = round(median(timings.get(bundle.name)!) - bare, 1);
    result.goalMet = result.initMs <= result.goalMs;
  }
  const referenceInit = round(median(timings.get('reference+maps')!) - bareMaps, 1);
  const reference: ReferenceBundle = {
    description: 'SQS + DynamoDB document clients only, stack settings',
    bundleBytes: statSync(referenceFile).size,
    initMs: referenceInit,
    initMsWithoutSourceMaps: round(median(timings.get('reference')!) - bare, 1),
    prototypeBundleKB: REFERENCE_PROTOTYPE.bundleKB,
    prototypeInitMs: REFERENCE_PROTOTYPE.initMs,
    machineFactor: round(referenceInit / REFERENCE_PROTOTYPE.initMs, 2),
  };

  const bundling = nodejsBundling();
  return {
    nodeBinary: node.startsWith(REPO_ROOT) ? node.slice(REPO_ROOT.length + 1) : node,
    nodeVersion,
    runsPerMeasurement: runs,
    bareNodeMs: round(bare, 1),
    bareNodeMsWithSourceMaps: round(bareMaps, 1),
    esbuild: {
      format: bundling.format,
      target: bundling.target,
      minify: bundling.minify,
      sourcemap: bundling.sourceMap,
      sourcesContent: bundling.sourcesContent,
      mainFields: bundling.mainFields,
      bundleAwsSDK: bundling.bundleAwsSDK,
      externalModules: bundling.externalModules,
      banner: Boolean(bundling.banner),
    },
    functions: results,
    reference,
    bundlesDir: outDir.slice(REPO_ROOT.length + 1),
    goalMet: results.every((r) => r.measured && r.goalMet),
  };
}

/** Bytes in the output per npm package (the project's own code as `(project)`). */
function largestPackages(metafile: Metafile, top: number): PackageShare[] {
  const output = Object.values(metafile.outputs).find((o) => o.entryPoint !== undefined);
  if (!output) return [];
  const byPackage = new Map<string, number>();
  for (const [path, input] of Object.entries(output.inputs)) {
    const name = packageOf(path);
    byPackage.set(name, (byPackage.get(name) ?? 0) + input.bytesInOutput);
  }
  return [...byPackage.entries()]
    .map(([pkg, bytes]) => ({ package: pkg, bytes }))
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
  const measured = result.functions.filter((f) => f.measured);
  return {
    'cold-start-init.svg': barChart({
      title: `Module init over bare node (${result.nodeVersion}, median of ${result.runsPerMeasurement})`,
      unit: 'init time (ms)',
      bars: [
        ...measured.map((f) => ({
          label: f.function,
          value: f.initMs!,
          color: f.goalMet ? '#2f9e44' : '#e03131',
          note: `${f.initMs} ms (goal ≤ ${f.goalMs})`,
        })),
        {
          label: 'SQS+DDB yardstick',
          value: result.reference.initMs,
          color: '#868e96',
          note: `${result.reference.initMs} ms (${result.reference.prototypeInitMs} ms on the prototypes)`,
        },
      ],
      goals: [
        { value: POLLER_INIT_GOAL_MS, label: `poller ${POLLER_INIT_GOAL_MS} ms` },
        { value: INIT_GOAL_MS, label: `${INIT_GOAL_MS} ms` },
      ],
    }),
    'bundle-size.svg': barChart({
      title: 'Bundle size (minified ESM, stack settings)',
      unit: 'bundle (KB)',
      bars: [
        ...measured.map((f) => ({
          label: f.function,
          value: f.bundleBytes! / 1000,
          color: '#4c6ef5',
          note: `${(f.bundleBytes! / 1000).toFixed(0)} KB`,
        })),
        {
          label: 'SQS+DDB yardstick',
          value: result.reference.bundleBytes / 1000,
          color: '#868e96',
          note: `${(result.reference.bundleBytes / 1000).toFixed(0)} KB`,
        },
      ],
    }),
  };
}
