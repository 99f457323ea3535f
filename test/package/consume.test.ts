import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV, FUNCTIONS, type FunctionName } from '../../contract/index.ts';
import {
  decodeSigningSecret,
  generateSigningSecret,
  signWebhook,
} from '../../functions/core/webhooks/sign.ts';
import { ensurePythonTools } from '../../local/python-venv.ts';
import {
  type CheckovReport,
  cfnLint,
  checkov,
  expectCheckovClean,
  expectLintClean,
  TEMPLATE_TOOLS,
  type ToolRun,
} from '../infra/template-checks.ts';
import {
  type CommandResult,
  commandEnvironment,
  consumerLockfile,
  runCommand,
  writeConsumerProject,
} from './consumer-project.ts';

/*
 * The package as a new user gets it: `npm pack` (which builds dist/ through `prepack`), then a
 * fresh project elsewhere installs the tarball, offline from the npm cache, with aws-cdk-lib,
 * constructs, cdk-nag and @types/node beside it. The consumer's commands run without this
 * repository on their PATH: its app synthesizes on plain `node`, the client and the webhook
 * verifier run on plain `node` (the project's own Node and the machine's), `npx flux-edit` runs
 * the CLI, and the repository's tsc checks the consumer's TypeScript against the shipped types.
 */

const PROJECT_ROOT = resolve(import.meta.dirname, '..', '..');
const PACKAGE = 'flux-edit-pipeline';
const FIXTURES = join(import.meta.dirname, 'consumer');
const functionNames = Object.keys(FUNCTIONS) as FunctionName[];

interface PackReport {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

// biome-ignore lint/suspicious/noExplicitAny: untyped template JSON, narrowed by each assertion
type CfnResource = { Type: string; Properties: Record<string, any> };

let work: string;
let consumer: string;
let pack: PackReport;
const consumerEnv = commandEnvironment({ consumer: true });
/** Started once the package is installed, awaited by the tests that need them. */
let synthesis: Promise<CommandResult>;
let typecheck: Promise<CommandResult>;
let typecheckClient: Promise<CommandResult>;

beforeAll(async () => {
  ensurePythonTools(TEMPLATE_TOOLS);
  work = mkdtempSync(join(tmpdir(), 'flux-package-'));
  const packed = await runCommand('npm', ['pack', '--json', '--pack-destination', work], {
    cwd: PROJECT_ROOT,
    env: commandEnvironment({ consumer: false }),
  });
  [pack] = JSON.parse(packed.stdout) as [PackReport];

  consumer = join(work, 'consumer');
  mkdirSync(consumer);
  cpSync(FIXTURES, consumer, { recursive: true });
  cpSync(join(work, pack.filename), join(consumer, pack.filename));
  const { lock, dependencies } = consumerLockfile({
    repoLock: join(PROJECT_ROOT, 'package-lock.json'),
    packages: ['aws-cdk-lib', 'constructs', 'cdk-nag', '@types/node'],
    tarball: join(consumer, pack.filename),
  });
  writeConsumerProject(consumer, lock, dependencies);
  await runCommand('npm', ['ci', '--offline', '--no-audit', '--no-fund'], {
    cwd: consumer,
    env: consumerEnv,
  });
  // What `cdk init` writes: the feature flags this aws-cdk-lib recommends for a new app.
  const flags = readFileSync(
    join(consumer, 'node_modules/aws-cdk-lib/recommended-feature-flags.json'),
    'utf8',
  );
  writeFileSync(
    join(consumer, 'cdk.json'),
    JSON.stringify({ app: 'node app.mjs', context: JSON.parse(flags) }, null, 2),
  );

  synthesis = runCommand(process.execPath, ['app.mjs', 'cdk.out'], { cwd: consumer, env: consumerEnv });
  typecheck = runCommand(
    process.execPath,
    [join(PROJECT_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'],
    { cwd: consumer, env: consumerEnv, check: false },
  );
  typecheckClient = runCommand(
    process.execPath,
    [join(PROJECT_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.client.json'],
    { cwd: consumer, env: consumerEnv, check: false },
  );
  // Failures surface in the tests that await them; this keeps an early one from going unhandled.
  synthesis.catch(() => {});
}, 300_000);

afterAll(async () => {
  await Promise.allSettled([synthesis, typecheck, typecheckClient]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('ships the compiled entry points with types, the Lambda bundles, the CLI and the docs, and nothing else', () => {
    const paths = pack.files.map((file) => file.path);
    const allowed =
      /^(package\.json|README\.md|LICENSE|CHANGELOG\.md|bin\/flux-edit\.mjs|dist\/assets\/[a-z]+\/(index|chunks\/[\w-]+)\.mjs(\.map)?|dist\/(client|contract|functions|infra)\/[\w/.-]+\.(js|d\.ts))$/;
    expect(paths.filter((path) => !allowed.test(path))).toEqual([]);
    for (const required of [
      'LICENSE',
      'CHANGELOG.md',
      'README.md',
      'dist/infra/index.js',
      'dist/infra/index.d.ts',
      'dist/client/index.js',
      'dist/client/index.d.ts',
      'dist/client/cli.js',
      'dist/functions/core/webhooks/verify.js',
      'dist/functions/core/webhooks/verify.d.ts',
      ...functionNames.flatMap((name) => [
        `dist/assets/${name}/index.mjs`,
        `dist/assets/${name}/index.mjs.map`,
      ]),
    ]) {
      expect(paths, required).toContain(required);
    }
    console.info(
      `tarball ${pack.filename}: ${pack.size} bytes (${pack.unpackedSize} unpacked, ${paths.length} files)`,
    );
  });

  it('declares a public MIT package whose exports have types, with aws-cdk-lib and constructs as peers', () => {
    const manifest = JSON.parse(
      readFileSync(join(consumer, 'node_modules', PACKAGE, 'package.json'), 'utf8'),
    ) as Record<string, unknown> & { exports: Record<string, unknown> };
    expect(manifest.private).toBeUndefined();
    expect(manifest).toMatchObject({
      license: 'MIT',
      type: 'module',
      peerDependencies: { 'aws-cdk-lib': expect.any(String), constructs: expect.any(String) },
    });
    expect(manifest.dependencies).not.toHaveProperty('aws-cdk-lib');
    for (const entry of ['.', './client', './webhooks']) {
      expect(manifest.exports[entry]).toEqual({
        types: expect.stringMatching(/^\.\/dist\/.+\.d\.ts$/),
        default: expect.stringMatching(/^\.\/dist\/.+\.js$/),
      });
    }
  });
});

describe('A consumer project', () => {
  it('installs no TypeScript loader, bundler or Lambda-side package', () => {
    const installed = (name: string) => existsSync(join(consumer, 'node_modules', name));
    for (const absent of [
      'tsx',
      'esbuild',
      'typescript',
      '@aws-lambda-powertools/logger',
      '@aws-sdk/client-s3',
    ]) {
      expect(installed(absent), absent).toBe(false);
    }
    expect(installed(PACKAGE)).toBe(true);
  });

  it('synthesizes an app on plain node with non-default props, cdk-nag passing, from the shipped bundles', async () => {
    await synthesis;
    const template = readTemplate();
    const functions = Object.entries(template.Resources).filter(
      ([, resource]) => resource.Type === 'AWS::Lambda::Function',
    );
    expect(functions).toHaveLength(functionNames.length);
    const shipped = new Set(
      functionNames.map((name) =>
        readFileSync(join(consumer, 'node_modules', PACKAGE, 'dist/assets', name, 'index.mjs'), 'utf8'),
      ),
    );
    const reserved: Record<string, unknown> = {};
    for (const [logicalId, fn] of functions) {
      const name = functionNames.find((candidate) =>
        logicalId.startsWith(`ImageEdits${candidate.charAt(0).toUpperCase()}${candidate.slice(1)}Function`),
      );
      if (name) reserved[name] = fn.Properties.ReservedConcurrentExecutions;
      expect(fn.Properties).toMatchObject({
        Handler: 'index.handler',
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
      });
      expect(fn.Properties.Environment.Variables).toMatchObject({
        [ENV.jobDeadlineSeconds]: '600',
        [ENV.outputHostAllowlist]: '*.runcomfy.net,images.example.com',
      });
      const asset = join(consumer, 'cdk.out', `asset.${fn.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
      expect(shipped.has(readFileSync(join(asset, 'index.mjs'), 'utf8'))).toBe(true);
    }
    expect(reserved).toEqual({
      submit: 5,
      jobs: 5,
      poller: 12,
      result: 10,
      webhook: undefined,
      sweeper: undefined,
    });
    const authorizers = Object.values(template.Resources).filter(
      (resource) => resource.Type === 'AWS::ApiGatewayV2::Authorizer',
    );
    expect(authorizers.map((authorizer) => authorizer.Properties)).toEqual([
      expect.objectContaining({
        AuthorizerType: 'JWT',
        JwtConfiguration: { Issuer: 'https://issuer.example.com', Audience: ['image-edits'] },
      }),
    ]);
  });

  describe('its template', () => {
    let lint: Promise<ToolRun>;
    let scan: Promise<CheckovReport>;
    beforeAll(async () => {
      await synthesis;
      const template = join(consumer, 'cdk.out', 'ConsumerStack.template.json');
      lint = cfnLint(template);
      scan = checkov(template);
    });

    it('passes cfn-lint', async () => {
      expectLintClean(await lint);
    });

    it('passes checkov, every skip carrying its reason', async () => {
      expectCheckovClean(await scan);
    });
  });

  it('type-checks its TypeScript against the shipped declarations', async () => {
    const result = await typecheck;
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('type-checks the client and the verifier with skipLibCheck: false and no AWS SDK installed', async () => {
    const result = await typecheckClient;
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it.each(nodes())('loads every entry point on plain node (%s)', async (_version, node) => {
    const { stdout } = await runCommand(node, ['entries.mjs'], { cwd: consumer, env: consumerEnv });
    const { exported } = JSON.parse(stdout) as { exported: Record<string, string[]> };
    expect(exported[PACKAGE]).toEqual(expect.arrayContaining(['FluxEditPipeline', 'FluxEditPipelineStack']));
    expect(exported[`${PACKAGE}/client`]).toEqual(
      expect.arrayContaining(['FluxEditClient', 'FluxEditApiError', 'FluxEditError']),
    );
    expect(exported[`${PACKAGE}/webhooks`]).toEqual(['WebhookVerificationError', 'verifyWebhook']);
  });

  describe('against a local API', () => {
    const requests: { method?: string; url?: string; authorization?: string }[] = [];
    let server: Server;
    let apiUrl: string;
    beforeAll(async () => {
      server = createServer((request: IncomingMessage, response) => {
        requests.push({
          method: request.method,
          url: request.url,
          authorization: request.headers.authorization,
        });
        if (request.method === 'GET' && request.url === '/edits/job-1') {
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(JSON.stringify(jobView('job-1')));
          return;
        }
        response.writeHead(404, { 'content-type': 'application/problem+json' });
        response.end(
          JSON.stringify({ title: 'Not Found', status: 404, code: 'NOT_FOUND', detail: 'no job' }),
        );
      });
      await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
      apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise((closed) => server.close(closed));
    });

    it.each(nodes())(
      'calls it with the typed client, unsigned and SigV4-signed, on plain node (%s)',
      async (_version, node) => {
        requests.length = 0;
        const { stdout } = await runCommand(node, ['client-call.mjs', apiUrl], {
          cwd: consumer,
          env: consumerEnv,
        });
        expect(JSON.parse(stdout)).toEqual({
          unsigned: { id: 'job-1', status: 'running' },
          sigv4: { id: 'job-1', status: 'running' },
          missing: { isFluxEditError: true, code: 'NOT_FOUND', status: 404 },
        });
        expect(requests.map((request) => `${request.method} ${request.url}`)).toEqual([
          'GET /edits/job-1',
          'GET /edits/job-1',
          'GET /edits/missing',
        ]);
        expect(requests[0]?.authorization).toBeUndefined();
        expect(requests[1]?.authorization).toMatch(
          /^AWS4-HMAC-SHA256 Credential=AKIDCONSUMERTEST\/\d{8}\/eu-west-1\/execute-api\/aws4_request, /,
        );
      },
    );

    it('runs the CLI as npx flux-edit', async () => {
      const { stdout } = await runCommand(
        'npx',
        ['--offline', 'flux-edit', 'status', 'job-1', '--api-url', apiUrl, '--json'],
        {
          cwd: consumer,
          env: consumerEnv,
        },
      );
      expect(JSON.parse(stdout)).toEqual(jobView('job-1'));
      const help = await runCommand('npx', ['--offline', 'flux-edit', '--help'], {
        cwd: consumer,
        env: consumerEnv,
      });
      expect(help.stdout).toContain('Usage: flux-edit <command>');
    });
  });

  it.each(nodes())(
    'verifies a webhook the pipeline signed, and refuses a tampered one, on plain node (%s)',
    async (_version, node) => {
      const secret = generateSigningSecret();
      const body = JSON.stringify({ event_id: 'evt-1', detail: { id: 'job-1', status: 'succeeded' } });
      const headers = signWebhook([decodeSigningSecret(secret)], {
        id: 'evt-1',
        timestamp: Math.floor(Date.now() / 1000),
        body,
      });
      const verify = async (delivered: string) =>
        JSON.parse(
          (
            await runCommand(
              node,
              ['verify-webhook.mjs', JSON.stringify({ secret, headers, body: delivered })],
              {
                cwd: consumer,
                env: consumerEnv,
              },
            )
          ).stdout,
        );

      expect(await verify(body)).toEqual({
        verified: { id: 'evt-1', timestamp: Number(headers['webhook-timestamp']), payload: JSON.parse(body) },
      });
      expect(await verify(body.replace('succeeded', 'failed'))).toEqual({ refused: 'NO_MATCHING_SIGNATURE' });
    },
  );

  it('bundles the client without aws-cdk-lib, and the verifier without any package', async () => {
    const client = await bundle(`${PACKAGE}/client`);
    const verifier = await bundle(`${PACKAGE}/webhooks`);
    expect(Object.keys(client.packages)).not.toContain('aws-cdk-lib');
    expect(Object.keys(client.packages)).not.toContain('constructs');
    expect(Object.keys(verifier.packages)).toEqual([PACKAGE]);
    console.info(
      `esbuild --bundle --minify --platform=node (bytes): client ${client.bytes}, verifier ${verifier.bytes}; ` +
        `client by package ${JSON.stringify(client.packages)}`,
    );
  });
});

/** An entry point bundled as a consumer's bundler would, and the bytes each package puts in it. */
async function bundle(entry: string): Promise<{ bytes: number; packages: Record<string, number> }> {
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: consumer,
    bundle: true,
    minify: true,
    platform: 'node',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const packages: Record<string, number> = {};
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const name = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? input;
      if (bytesInOutput > 0) packages[name] = (packages[name] ?? 0) + bytesInOutput;
    }
  }
  return { bytes: result.outputFiles[0]!.contents.length, packages };
}

function readTemplate(): { Resources: Record<string, CfnResource> } {
  return JSON.parse(readFileSync(join(consumer, 'cdk.out', 'ConsumerStack.template.json'), 'utf8'));
}

function jobView(id: string) {
  const at = '2026-01-01T00:00:00.000Z';
  return {
    id,
    status: 'running',
    phase: 'running',
    input: { prompt: 'make the cup red', image_urls: ['https://example.com/cup.png'] },
    created_at: at,
    updated_at: at,
    deadline_at: at,
  };
}

/**
 * The Nodes a consumer may run the package on: this project's, and the machine's own when it
 * is another major version (the package declares `engines`; the oldest it supports is checked).
 */
let machineNodes: [version: string, binary: string][] | undefined;
function nodes(): [version: string, binary: string][] {
  machineNodes ??= findNodes();
  return machineNodes;
}

function findNodes(): [version: string, binary: string][] {
  const found = new Map<string, string>([[process.version.split('.')[0]!, process.execPath]]);
  const machine = spawnSync('node', ['-p', 'process.execPath'], { env: consumerEnv, encoding: 'utf8' });
  const binary = machine.stdout?.trim();
  if (machine.status === 0 && binary) {
    const version = spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout.trim();
    const major = version.split('.')[0]!;
    if (!found.has(major)) found.set(major, binary);
  }
  return [...found].map(([major, path]) => [major, path]);
}
