import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { FluxEditPipelineStack } from './stack.ts';

/**
 * The CDK app (`cdk.json` runs it with tsx). cdk-nag's AWS Solutions and Serverless packs run as
 * validation plugins: any finding the construct has not acknowledged, with a reason, fails synth.
 */
const app = new App();
new FluxEditPipelineStack(app, 'FluxEditPipeline', {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
