// Verifies a delivery given as JSON { secret, headers, body } in argv[2]; prints the verified
// webhook, or the refusal's code.
import { verifyWebhook, WebhookVerificationError } from 'flux-edit-pipeline/webhooks';

const { secret, headers, body } = JSON.parse(process.argv[2]);
try {
  const { id, timestamp, payload } = verifyWebhook(secret, headers, Buffer.from(body));
  console.log(JSON.stringify({ verified: { id, timestamp, payload } }));
} catch (error) {
  if (!(error instanceof WebhookVerificationError)) throw error;
  console.log(JSON.stringify({ refused: error.code }));
}
