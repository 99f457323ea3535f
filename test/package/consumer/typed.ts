// A consumer's TypeScript against the package's declarations (type-checked, never run).
import { App, Duration, Stack } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { FluxEditPipeline, type FluxEditPipelineProps, FluxEditPipelineStack } from 'flux-edit-pipeline';
import { FluxEditClient, type JobView } from 'flux-edit-pipeline/client';
import { type VerifiedWebhook, verifyWebhook, WebhookVerificationError } from 'flux-edit-pipeline/webhooks';

const props: FluxEditPipelineProps = {
  jobDeadline: Duration.minutes(10),
  apiAuthorization: { type: 'jwt', issuer: 'https://issuer.example.com', audience: ['image-edits'] },
  reservedConcurrency: { poller: 12 },
};
const app = new App();
const pipeline = new FluxEditPipeline(new Stack(app, 'Host'), 'ImageEdits', props);
const poller: IFunction = pipeline.functions.poller;
const stack = new FluxEditPipelineStack(app, 'Whole', { pipeline: props });
export const apiUrl: string = stack.pipeline.apiUrl;

const client = new FluxEditClient({ apiUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com' });
export async function statusOf(id: string): Promise<JobView['status']> {
  const job: JobView = await client.get(id);
  return job.status;
}

export function receive(headers: Record<string, string>, body: string): VerifiedWebhook | string {
  try {
    return verifyWebhook(process.env.FLUX_WEBHOOK_SECRET ?? '', headers, body);
  } catch (error) {
    if (error instanceof WebhookVerificationError) return error.code;
    throw error;
  }
}
export { poller };
