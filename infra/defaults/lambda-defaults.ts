import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';

/** The newest Node.js runtime this aws-cdk-lib knows; cdk-nag's LambdaLatestVersion checks against the same list. */
export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;

/** Graviton: cheaper per GB-second, and nothing in the bundle is native. */
export const LAMBDA_ARCHITECTURE = Architecture.ARM_64;

/**
 * ESM needs `require` for the few CommonJS dependencies esbuild inlines (parts of the AWS SDK);
 * this banner gives the bundle one that resolves relative to the bundle itself.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire } from 'node:module';const require = createRequire(import.meta.url);";

/**
 * Local esbuild bundling (no Docker on build machines or CI), minified ESM for Node 24.
 * The AWS SDK is bundled rather than taken from the runtime: the functions then run exactly the
 * SDK version the tests ran, and esbuild tree-shakes it to the few commands each function sends.
 */
export function nodejsBundling(): BundlingOptions {
  return {
    forceDockerBundling: false,
    format: OutputFormat.ESM,
    target: 'node24',
    mainFields: ['module', 'main'],
    banner: ESM_REQUIRE_BANNER,
    minify: true,
    sourceMap: true,
    // Source maps without embedded sources: stack traces still map, the asset stays small.
    sourcesContent: false,
    bundleAwsSDK: true,
    externalModules: [],
  };
}

/** Lets Node map minified stack traces back to the TypeScript sources through the bundled source map. */
export const SOURCE_MAP_ENVIRONMENT = { NODE_OPTIONS: '--enable-source-maps' } as const;
