import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { afterAll } from 'vitest';
import { FluxEditPipeline, type FluxEditPipelineProps } from '../../infra/flux-edit-pipeline.ts';
import { FluxEditPipelineStack, type FluxEditPipelineStackProps } from '../../infra/stack.ts';
import { ensureLambdaAssets } from '../../scripts/lambda-assets.ts';

export const PROJECT_ROOT = resolve(import.meta.dirname, '..', '..');

/** The feature flags `cdk synth` passes the app from cdk.json, so in-process synths match it. */
export function cdkJsonContext(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')).context;
}

export interface Synthesized<S extends Stack = FluxEditPipelineStack> {
  app: App;
  stack: S;
  pipeline: FluxEditPipeline;
  template: Template;
  outdir: string;
  /** The logical id CloudFormation knows a construct's resource by. */
  logicalId(construct: IConstruct): string;
}

/**
 * Synthesizes the stack as `cdk synth` would, from the function bundles in `dist/assets/` (built
 * first, once per test process, as `cdk synth` builds them through cdk.json's `build`).
 * `bundle: false` leaves the bundles where they are instead of copying them into the cloud
 * assembly (CDK's `aws:cdk:disable-asset-staging`), for tests about configuration rather than code.
 */
export function synth(
  props: FluxEditPipelineStackProps = {},
  options: { bundle?: boolean } = {},
): Synthesized {
  const { app, outdir } = newApp(options.bundle ?? true);
  const stack = new FluxEditPipelineStack(app, 'FluxEditPipeline', props);
  const template = Template.fromStack(stack);
  return {
    app,
    stack,
    pipeline: stack.pipeline,
    template,
    outdir,
    logicalId: (construct) => logicalIdOf(stack, construct),
  };
}

/**
 * The construct alone in a plain stack, with props that may reference other resources of that
 * stack (a key, an alarm topic, imported buckets). Never stages the bundles: these tests are
 * about wiring.
 */
export function synthConstruct(propsFor: (stack: Stack) => FluxEditPipelineProps): Synthesized<Stack> {
  const { app, outdir } = newApp(false);
  const stack = new Stack(app, 'Host');
  const pipeline = new FluxEditPipeline(stack, 'Pipeline', propsFor(stack));
  return {
    app,
    stack,
    pipeline,
    template: Template.fromStack(stack),
    outdir,
    logicalId: (construct) => logicalIdOf(stack, construct),
  };
}

/** Cloud assemblies (with their bundles) made by the importing test file, removed after it. */
const outdirs: string[] = [];
afterAll(() => {
  for (const outdir of outdirs.splice(0)) rmSync(outdir, { recursive: true, force: true });
});

export function temporaryOutdir(): string {
  const outdir = mkdtempSync(join(tmpdir(), 'flux-infra-'));
  outdirs.push(outdir);
  return outdir;
}

function newApp(bundle: boolean) {
  ensureLambdaAssets();
  const outdir = temporaryOutdir();
  const context = { ...cdkJsonContext(), ...(bundle ? {} : { 'aws:cdk:disable-asset-staging': true }) };
  return { app: new App({ outdir, context }), outdir };
}

export function logicalIdOf(stack: Stack, construct: IConstruct): string {
  const resource = construct.node.defaultChild ?? construct;
  return stack.getLogicalId(resource as never);
}

/** CloudFormation JSON as the assertions read it: shapes vary by resource, the tests check them. */
// biome-ignore lint/suspicious/noExplicitAny: untyped template JSON, narrowed by each assertion
type CfnJson = Record<string, any>;

/** A resource of the template by logical id, with its properties typed loosely for assertions. */
export function resourceOf(
  template: Template,
  logicalId: string,
): { Type: string; Properties: CfnJson; Metadata?: CfnJson } {
  const resource = template.toJSON().Resources[logicalId];
  if (!resource) throw new Error(`no resource ${logicalId} in the template`);
  return resource;
}

export function resourcesOfType(template: Template, type: string): [string, { Properties: CfnJson }][] {
  return Object.entries(template.findResources(type)) as [string, { Properties: CfnJson }][];
}
