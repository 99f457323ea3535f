/**
 * Bundles every function of `contract/resources.ts` FUNCTIONS into `dist/assets/<name>/`
 * (`index.mjs`, the chunks it imports lazily, and their source maps), the directories the construct deploys with
 * `Code.fromAsset`. `npm run build:assets`, `npm run build` (and so `npm pack`), `cdk synth`
 * (cdk.json's `build`) and the infra tests run it; it takes about a second.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BuildOptions, buildSync } from 'esbuild';
import { FUNCTIONS, type FunctionName } from '../contract/index.ts';
import { LAMBDA_ASSETS_DIR, nodejsBundling } from '../infra/defaults/lambda-defaults.ts';

const ROOT = resolve(import.meta.dirname, '..');

/**
 * esbuild's options for the function bundles: `nodejsBundling()` turned into esbuild options as
 * aws-lambda-nodejs turns it into its esbuild command line (lib/bundling.js), so the bundles are
 * the ones a NodejsFunction with those settings would deploy.
 */
export function lambdaEsbuildOptions(): BuildOptions {
  const props = nodejsBundling();
  const sourceMapMode = props.sourceMapMode ?? (props.sourceMap ? 'default' : undefined);
  return {
    bundle: true,
    platform: 'node',
    format: props.format as BuildOptions['format'],
    target: props.target,
    mainFields: props.mainFields,
    banner: props.banner ? { js: props.banner } : undefined,
    minify: props.minify,
    sourcemap: sourceMapMode === 'default' ? true : (sourceMapMode as BuildOptions['sourcemap']),
    sourcesContent: props.sourcesContent,
    external: props.bundleAwsSDK ? [...(props.externalModules ?? [])] : ['@aws-sdk/*'],
    // ESM bundles end in .mjs, as aws-lambda-nodejs names them, so Lambda loads them as modules.
    outExtension: { '.js': '.mjs' },
    splitting: props.esbuildArgs?.['--splitting'] === true,
    ...(typeof props.esbuildArgs?.['--chunk-names'] === 'string'
      ? { chunkNames: props.esbuildArgs['--chunk-names'] }
      : {}),
    absWorkingDir: ROOT,
    logLevel: 'warning',
  };
}

export interface LambdaAssets {
  directory: string;
  /** Bytes of each function's bundle (without its source map). */
  bundleBytes: Record<FunctionName, number>;
  /** Files rewritten because their content changed. */
  changed: string[];
}

/**
 * Builds one esbuild call per function (each directory holds its own chunks: a function's asset
 * is its directory alone) and writes only files whose bytes changed, each by an atomic rename:
 * test workers and a concurrent `npm pack` may build at once, and a synth reading the assets then
 * sees each file whole, old or new, and unchanged files keep their hash. Anything else in the
 * directory (a function since removed, a chunk no longer made) is deleted.
 */
export function buildLambdaAssets(directory: string = LAMBDA_ASSETS_DIR): LambdaAssets {
  const names = Object.keys(FUNCTIONS) as FunctionName[];
  const outputFiles = names.flatMap(
    (name) =>
      buildSync({
        ...lambdaEsbuildOptions(),
        entryPoints: { index: FUNCTIONS[name].entry },
        outdir: join(directory, name),
        write: false,
      }).outputFiles,
  );
  const changed: string[] = [];
  const wanted = new Set<string>();
  const bundleBytes = {} as Record<FunctionName, number>;
  for (const file of outputFiles) {
    const path = relative(directory, file.path);
    wanted.add(path);
    if (path.endsWith('index.mjs')) bundleBytes[path.split('/')[0] as FunctionName] = file.contents.length;
    if (sameBytes(file.path, file.contents)) continue;
    mkdirSync(dirname(file.path), { recursive: true });
    const temporary = `${file.path}.${randomBytes(6).toString('hex')}.tmp`;
    writeFileSync(temporary, file.contents);
    renameSync(temporary, file.path);
    changed.push(path);
  }
  for (const entry of readdirSync(directory, { recursive: true, withFileTypes: true })) {
    const path = relative(directory, join(entry.parentPath, entry.name));
    const kept = entry.isDirectory()
      ? names.includes(path.split('/')[0] as FunctionName) &&
        [...wanted].some((file) => file.startsWith(`${path}/`))
      : wanted.has(path) || entry.name.endsWith('.tmp');
    if (!kept) rmSync(join(directory, path), { recursive: true, force: true });
  }
  return { directory, bundleBytes, changed };
}

function sameBytes(path: string, contents: Uint8Array): boolean {
  try {
    return Buffer.compare(readFileSync(path), contents) === 0;
  } catch {
    return false;
  }
}

let built: LambdaAssets | undefined;
/** Builds the assets once per process (the infra tests call this before each synth). */
export function ensureLambdaAssets(): LambdaAssets {
  built ??= buildLambdaAssets();
  return built;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = performance.now();
  const assets = buildLambdaAssets();
  const sizes = Object.entries(assets.bundleBytes)
    .map(([name, bytes]) => `${name} ${(bytes / 1024).toFixed(0)} KiB`)
    .join(', ');
  console.error(
    `Lambda assets in ${relative(process.cwd(), assets.directory) || '.'} (${Math.round(performance.now() - started)} ms, ${assets.changed.length} files changed): ${sizes}`,
  );
}
