/** Secrets are cached this long, so a rotated value is picked up without a redeploy. */
const SECRET_CACHE_SECONDS = 300;

/**
 * Reads a Secrets Manager secret's string value, cached per container (Powertools Parameters).
 * Loaded on first use: a function that never needs a secret never parses Secrets Manager's client.
 * The value is never logged nor put in an error.
 */
export async function secretValue(secretArn: string): Promise<unknown> {
  const { getSecret } = await import('@aws-lambda-powertools/parameters/secrets');
  return getSecret<string>(secretArn, { maxAge: SECRET_CACHE_SECONDS });
}
