import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Stack, Validations } from 'aws-cdk-lib';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { REASONS } from '../../infra/defaults/acknowledgements.ts';
import type { FluxEditPipelineProps } from '../../infra/flux-edit-pipeline.ts';
import { ensurePythonTools } from '../../local/python-venv.ts';
import { PROJECT_ROOT, synthConstruct, temporaryOutdir } from './synth.ts';
import {
  cfnLint,
  checkov,
  expectCheckovClean,
  expectLintClean,
  nagFindings,
  TEMPLATE_TOOLS,
} from './template-checks.ts';

/** The acknowledgements recorded on the tree: rule id to reason. */
function acknowledgements(scope: IConstruct): [string, string][] {
  return scope.node
    .findAll()
    .flatMap((construct) => construct.node.metadata)
    .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
    .flatMap((entry) => Object.entries(entry.data as Record<string, string>));
}

const variants: [string, (stack: Stack) => FluxEditPipelineProps][] = [
  ['the defaults', () => ({})],
  [
    'a customer key, JWT auth, reserved concurrency and versioning',
    (stack) => ({
      encryptionKey: new Key(stack, 'Key', { enableKeyRotation: true }),
      apiAuthorization: { type: 'jwt', issuer: 'https://issuer.example.com', audience: ['client'] },
      reservedConcurrency: { submit: 5, jobs: 5, poller: 10, result: 10 },
      outputBucketVersioned: true,
    }),
  ],
  [
    'an existing bucket and an input allowlist',
    (stack) => ({
      existingOutputBucket: Bucket.fromBucketName(stack, 'Existing', 'existing-outputs'),
      inputS3Allowlist: ['partner-inputs/flux/', 'whole-bucket/'],
    }),
  ],
];

// The first synth loads cdk-nag's rule packs; on a loaded 2-core machine that alone can pass 30 s.
describe('cdk-nag (AwsSolutions and Serverless packs)', { timeout: 120_000 }, () => {
  it.each(variants)('finds nothing unacknowledged with %s', (_case, propsFor) => {
    // Act
    const { app } = synthConstruct(propsFor);

    // Assess
    expect(nagFindings(app)).toEqual([]);
  });

  it('gives every acknowledgement a specific reason', () => {
    // Prepare
    const { app } = synthConstruct(() => ({}));

    // Act
    const acknowledged = acknowledgements(app);

    // Assess
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const [rule, reason] of acknowledged) {
      expect(rule).toMatch(/(AwsSolutions|Serverless)-[A-Za-z0-9]+/);
      expect(reason.length, rule).toBeGreaterThan(60);
    }
  });

  it('accepts the sweeper’s missing DLQs for its schedule’s reason, not the queue consumers’ one', () => {
    // Prepare
    const { pipeline } = synthConstruct(() => ({}));
    // Recorded ids carry the validation namespace (`Annotation::`); cdk-nag strips it likewise.
    const on = (scope: IConstruct) =>
      new Map(acknowledgements(scope).map(([rule, reason]) => [rule.replace(/^annotation::/i, ''), reason]));
    const sweeper = on(pipeline.functions.sweeper);
    const poller = on(pipeline.functions.poller);

    // Assess: the sweeper is invoked asynchronously, so "only synchronous or SQS" would be false.
    expect(sweeper.get('Serverless-LambdaDLQ')).toBe(REASONS.scheduledSweepCarriesNothing);
    expect(sweeper.get('Serverless-LambdaAsyncFailureDestination')).toBe(
      REASONS.scheduledSweepCarriesNothing,
    );
    expect(poller.get('Serverless-LambdaDLQ')).toBe(REASONS.noAsyncInvocations);
    expect(poller.has('Serverless-LambdaAsyncFailureDestination')).toBe(false);
    expect(on(pipeline.sweeperSchedule).get('Serverless-EventBusDLQ')).toBe(REASONS.scheduleDeliveryIsLocal);
  });
});

/**
 * The template `npm run synth` produces: the CDK CLI builds the function bundles (cdk.json's
 * `build`), then runs infra/app.ts (so cdk.json's feature flags apply and cdk-nag runs as a
 * validation plugin, failing synth on a finding). cfn-lint and checkov then read the very
 * template that deploys.
 */
describe('cdk synth of the app', () => {
  let template = '';
  beforeAll(() => {
    ensurePythonTools(TEMPLATE_TOOLS);
    const outdir = temporaryOutdir();
    const synth = spawnSync(
      process.execPath,
      [
        join(PROJECT_ROOT, 'node_modules/aws-cdk/bin/cdk'),
        'synth',
        '--quiet',
        '--no-notices',
        '--output',
        outdir,
      ],
      {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
        env: { ...process.env, CDK_DISABLE_VERSION_CHECK: 'true', CDK_DISABLE_CLI_TELEMETRY: 'true' },
      },
    );
    if (synth.status !== 0)
      throw new Error(`cdk synth failed (${synth.status}):\n${synth.stderr}\n${synth.stdout}`);
    template = join(outdir, 'FluxEditPipeline.template.json');
  }, 600_000);

  it('synthesizes with cdk-nag passing', () => {
    expect(existsSync(template)).toBe(true);
  });

  it('passes cfn-lint', async () => {
    expectLintClean(await cfnLint(template));
  });

  it('passes checkov, every skip carrying its reason', async () => {
    expectCheckovClean(await checkov(template));
  });
});
