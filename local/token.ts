/**
 * `npm run -s token -- --sub alice [--scope admin] [--aud X] [--expires-in 1h]`: prints a bearer
 * token of the running local runtime's issuer (`API_AUTH=jwt npm start`) on stdout, and nothing
 * else, so `TOKEN=$(npm run -s token -- --sub alice)` works.
 *
 * It signs with the key `npm start` wrote beside its stack file (readable by this user only; a
 * new one at every start), after checking that the running issuer still publishes that key, so a
 * stale file left by a killed runtime is refused instead of yielding tokens nobody accepts.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { LocalRuntimeError } from './errors.ts';
import { mintToken, parseDuration, readSigningKeyFile } from './jwt-token.ts';
import { RUNTIME_ENV } from './runtime-env.ts';

const USAGE = `Usage: npm run -s token -- --sub <subject> [options]

Prints a bearer token for the local runtime started with API_AUTH=jwt npm start.

  --sub <subject>       who the token is for (its owner is jwt:<issuer>|<subject>) (required)
  --scope <scope>       a scope to grant, e.g. the admin scope (default admin); repeatable
  --aud <audience>      the audience (default: the runtime's first, flux-edit-local)
  --expires-in <time>   lifetime: 90, 90s, 15m, 1h, 2d (default 1h)
  --stack-file <path>   the runtime's stack file (default $${RUNTIME_ENV.stackFile}, else .local/stack.json)
`;

const StackAuthSchema = z.object({
  auth: z.object({
    mode: z.literal('jwt'),
    issuer: z.string(),
    audience: z.array(z.string()).min(1),
    jwksUri: z.url(),
    signingKeyFile: z.string(),
  }),
});

class UsageError extends Error {}

async function main(argv: string[]): Promise<string> {
  let values: ReturnType<typeof parse>['values'];
  try {
    ({ values } = parse(argv));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return USAGE;
  if (!values.sub) throw new UsageError('--sub is required');
  const expiresIn = parseDuration(values['expires-in'] ?? '1h');
  if (!expiresIn) throw new UsageError('--expires-in must be a positive duration: 90, 90s, 15m, 1h, 2d');

  const stackFile = resolve(
    values['stack-file'] ||
      process.env[RUNTIME_ENV.stackFile] ||
      resolve(import.meta.dirname, '..', '.local', 'stack.json'),
  );
  const auth = await readStackAuth(stackFile);
  const signingKey = readSigningKeyFile(auth.signingKeyFile);
  await assertPublished(auth.jwksUri, String(signingKey.kid));
  const token = await mintToken(signingKey, {
    issuer: auth.issuer,
    audience: values.aud ?? (auth.audience[0] as string),
    sub: values.sub,
    scopes: (values.scope ?? []).flatMap((scope) => scope.split(/\s+/)).filter(Boolean),
    expiresInSeconds: expiresIn,
  });
  return `${token}\n`;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      sub: { type: 'string' },
      scope: { type: 'string', multiple: true },
      aud: { type: 'string' },
      'expires-in': { type: 'string' },
      'stack-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
}

async function readStackAuth(stackFile: string): Promise<z.infer<typeof StackAuthSchema>['auth']> {
  const notRunning = (why: string) =>
    new LocalRuntimeError(
      'AUTH_NOT_RUNNING',
      `${why}: start the local runtime with API_AUTH=jwt npm start (or name its stack file with --stack-file)`,
    );
  let stack: unknown;
  try {
    stack = JSON.parse(await readFile(stackFile, 'utf8'));
  } catch {
    throw notRunning(`no local runtime is described at ${stackFile}`);
  }
  const parsed = StackAuthSchema.safeParse(stack);
  if (!parsed.success) throw notRunning(`the local runtime of ${stackFile} runs without auth`);
  return parsed.data.auth;
}

/** The running issuer publishes the key: else the runtime is gone and the file is stale. */
async function assertPublished(jwksUri: string, kid: string): Promise<void> {
  let keys: { kid?: string }[] = [];
  try {
    const response = await fetch(jwksUri, { signal: AbortSignal.timeout(5_000) });
    keys = ((await response.json()) as { keys?: { kid?: string }[] }).keys ?? [];
  } catch {
    throw new LocalRuntimeError(
      'AUTH_NOT_RUNNING',
      `the local issuer does not answer at ${jwksUri}: is the runtime still running? (API_AUTH=jwt npm start)`,
    );
  }
  if (!keys.some((key) => key.kid === kid)) {
    throw new LocalRuntimeError(
      'AUTH_KEY_MISSING',
      `the signing key file is not the running issuer's (left by an earlier run?): restart the runtime`,
    );
  }
}

main(process.argv.slice(2)).then(
  (output) => process.stdout.write(output),
  (error: unknown) => {
    const usage = error instanceof UsageError;
    process.stderr.write(
      `token: ${error instanceof Error ? error.message : String(error)}\n${usage ? '\nrun npm run token -- --help for usage\n' : ''}`,
    );
    process.exitCode = usage ? 2 : 1;
  },
);
