import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Architecture, Code, Runtime } from 'aws-cdk-lib/aws-lambda';
import type { BundlingOptions, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { FunctionName } from '../../contract/index.ts';

/** The newest Node.js runtime this aws-cdk-lib knows; cdk-nag's LambdaLatestVersion checks against the same list. */
export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;

/** Graviton: cheaper per GB-second, and nothing in the bundle is native. */
export const LAMBDA_ARCHITECTURE = Architecture.ARM_64;

/** Each asset holds one bundle, `index.mjs`, exporting `handler`. */
export const LAMBDA_HANDLER = 'index.handler';

/**
 * ESM needs `require` for the few CommonJS dependencies esbuild inlines (parts of the AWS SDK);
 * this banner gives the bundle one that resolves relative to the bundle itself.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire } from 'node:module';const require = createRequire(import.meta.url);";

/**
 * How every function is bundled: esbuild (no Docker), minified ESM for Node 24, in the
 * vocabulary of aws-lambda-nodejs's `BundlingOptions` (what the stack bundled with before the
 * bundles were built ahead of synth). `scripts/lambda-assets.ts` turns these into esbuild's
 * options, as aws-lambda-nodejs would, and writes `dist/assets/<function>/` from them.
 * The AWS SDK is bundled rather than taken from the runtime: the functions then run exactly the
 * SDK version the tests ran, and esbuild tree-shakes it to the few commands each function sends.
 * The bench (`npm run bench -- --only cold-start`) measures each bundle's init against the SDK
 * clients alone.
 */
export function nodejsBundling(): BundlingOptions {
  return {
    forceDockerBundling: false,
    // A type-only import keeps aws-lambda-nodejs out of the construct's module graph.
    format: 'esm' as OutputFormat,
    target: 'node24',
    mainFields: ['module', 'main'],
    banner: ESM_REQUIRE_BANNER,
    minify: true,
    sourceMap: true,
    // Source maps without embedded sources: stack traces still map, the asset stays small.
    sourcesContent: false,
    bundleAwsSDK: true,
    externalModules: [],
    // Code reached only through `import()` (rare paths: the S3 presigner of a poller, the
    // notifier's SNS and EventBridge clients, Secrets Manager) goes into chunk files next to
    // `index.mjs`, read when first imported, not at cold start. (aws-lambda-nodejs bundles to one
    // `--outfile`, where esbuild cannot split; scripts/lambda-assets.ts builds to a directory.)
    esbuildArgs: { '--splitting': true, '--chunk-names': 'chunks/[name]-[hash]' },
  };
}

/** Lets Node map minified stack traces back to the TypeScript sources through the bundled source map. */
export const SOURCE_MAP_ENVIRONMENT = { NODE_OPTIONS: '--enable-source-maps' } as const;

/**
 * The root of this package: the repository when the construct runs from its TypeScript
 * sources, `node_modules/flux-edit-pipeline` when it runs compiled from `dist/`. The nearest
 * directory holding a package.json (`dist/` holds none), so both layouts find the same place.
 */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

/** Where the pre-built bundles live, one directory per function (`npm run build:assets` writes them). */
export const LAMBDA_ASSETS_DIR = join(packageRoot(), 'dist', 'assets');

export class LambdaAssetMissingError extends Error {
  override readonly name = 'LambdaAssetMissingError';
  readonly code = 'LAMBDA_ASSET_MISSING';
}

/**
 * The code of a function: its bundle, built ahead of synth (at `npm pack` for the published
 * package, by `npm run build:assets` in this repository), so a synth needs neither esbuild nor
 * the function sources.
 */
export function lambdaCode(name: FunctionName, assetsDir: string = LAMBDA_ASSETS_DIR): Code {
  const directory = join(assetsDir, name);
  if (!existsSync(join(directory, 'index.mjs'))) {
    throw new LambdaAssetMissingError(
      `The bundle of the ${name} function is missing (${directory}). In the flux-edit-pipeline repository, run \`npm run build:assets\`; an installed package ships it.`,
    );
  }
  return Code.fromAsset(directory);
}
