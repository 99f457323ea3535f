import type { Config } from '#contract/config';
import { ConfigError } from '#contract/config';
import { secretValue } from './secrets.ts';

/**
 * The RunComfy API token: from Secrets Manager in AWS (the function knows only the secret's
 * ARN; Powertools caches the value for five minutes, so a rotated token is picked up without a
 * redeploy), or from `RUNCOMFY_API_TOKEN` in the local runtime. The secret may hold the bare
 * token or JSON with a `token` field.
 */
export function runComfyTokenSource(config: Config): () => Promise<string> {
  if (config.runComfyApiToken) {
    const token = config.runComfyApiToken;
    return async () => token;
  }
  const secretArn = config.runComfyTokenSecretArn as string;
  return async () => tokenFrom(await secretValue(secretArn));
}

export function tokenFrom(value: unknown): string {
  let token: unknown = value;
  if (typeof value === 'string' && value.trim().startsWith('{')) {
    try {
      token = (JSON.parse(value) as { token?: unknown }).token;
    } catch {
      token = undefined;
    }
  }
  if (typeof token !== 'string' || token.trim() === '') {
    // Never include the value: it is a secret, even when malformed.
    throw new ConfigError(
      'the RunComfy token secret is empty or not a token (expected a string or {"token": "..."})',
    );
  }
  return token.trim();
}
