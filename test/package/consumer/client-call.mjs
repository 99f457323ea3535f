// Calls a pipeline API (argv[2]) with the typed client: unsigned, and SigV4-signed with given
// credentials. Prints what each call returned, or the error's code.
import { FluxEditClient, FluxEditError } from 'flux-edit-pipeline/client';

const apiUrl = process.argv[2];
const results = {};
const clients = {
  unsigned: new FluxEditClient({ apiUrl, signing: 'none' }),
  sigv4: new FluxEditClient({
    apiUrl,
    signing: 'sigv4',
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDCONSUMERTEST', secretAccessKey: 'consumer-test-secret' },
  }),
};
for (const [name, client] of Object.entries(clients)) {
  const job = await client.get('job-1');
  results[name] = { id: job.id, status: job.status };
}
try {
  await clients.unsigned.get('missing');
} catch (error) {
  results.missing = {
    isFluxEditError: error instanceof FluxEditError,
    code: error.code,
    status: error.status,
  };
}
console.log(JSON.stringify(results));
