// A consumer's CDK app, in plain JavaScript: it runs on `node` with no TypeScript loader and no
// bundler. cdk-nag runs as a validation plugin, as in this repository's own app: any finding the
// construct has not acknowledged fails synth. The context is cdk.json's, as `cdk synth` passes it.
import { readFileSync } from 'node:fs';
import { App, CfnOutput, Duration, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { FluxEditPipeline } from 'flux-edit-pipeline';

const { context } = JSON.parse(readFileSync('cdk.json', 'utf8'));
const app = new App({ outdir: process.argv[2] ?? 'cdk.out', context });
const stack = new Stack(app, 'ConsumerStack');
const pipeline = new FluxEditPipeline(stack, 'ImageEdits', {
  jobDeadline: Duration.minutes(10),
  outputHostAllowlist: ['*.runcomfy.net', 'images.example.com'],
  apiAuthorization: { type: 'jwt', issuer: 'https://issuer.example.com', audience: ['image-edits'] },
  reservedConcurrency: { submit: 5, jobs: 5, poller: 12, result: 10 },
});
new CfnOutput(stack, 'ApiUrl', { value: pipeline.apiUrl });
Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
app.synth();
