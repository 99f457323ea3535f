// The client and the webhook verifier alone, type-checked with skipLibCheck: false (tsconfig.client.json):
// their declarations must resolve without the AWS SDK, which a client-only consumer does not install.
import { FluxEditClient, type JobView } from 'flux-edit-pipeline/client';
import { type VerifiedWebhook, verifyWebhook } from 'flux-edit-pipeline/webhooks';

const client = new FluxEditClient({ apiUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com' });
export async function outputsOf(id: string): Promise<JobView['outputs']> {
  return (await client.get(id)).outputs;
}
export const verify = (secret: string, headers: Record<string, string>, body: string): VerifiedWebhook =>
  verifyWebhook(secret, headers, body);
