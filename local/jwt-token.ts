import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { importJWK, type JWK, SignJWT } from 'jose';
import { z } from 'zod';
import { LocalRuntimeError } from './errors.ts';

/** The one algorithm the local issuer signs with: API Gateway's JWT authorizer takes RSA only. */
export const LOCAL_JWT_ALGORITHM = 'RS256';

/** What a token is minted for. Times are Unix seconds. */
export interface TokenRequest {
  sub: string;
  /** Put in the `scope` claim, space-separated (e.g. `['admin']`). */
  scopes?: readonly string[];
  /** The `aud` claim. */
  audience: string;
  issuer: string;
  /** @default 3600 */
  expiresInSeconds?: number;
  /** @default now */
  issuedAt?: number;
  /** Further claims (e.g. `client_id`); they never replace the ones above. */
  claims?: Record<string, unknown>;
}

/**
 * Signs a token the way an OIDC provider's access token looks to API Gateway: RS256 with the
 * key's `kid` in the header, `iss`, `sub`, `aud`, `iat`, `exp`, and `scope` when given.
 *
 * @example
 * const token = await mintToken(key, { issuer, audience: 'flux-edit-local', sub: 'alice', scopes: ['admin'] });
 */
export async function mintToken(signingKey: JWK, request: TokenRequest): Promise<string> {
  if (!signingKey.kid) throw new TypeError('the signing key has no kid');
  const issuedAt = request.issuedAt ?? Math.floor(Date.now() / 1000);
  const key = await importJWK(signingKey, LOCAL_JWT_ALGORITHM);
  return new SignJWT({
    ...request.claims,
    ...(request.scopes?.length ? { scope: request.scopes.join(' ') } : {}),
  })
    .setProtectedHeader({ alg: LOCAL_JWT_ALGORITHM, kid: signingKey.kid, typ: 'JWT' })
    .setIssuer(request.issuer)
    .setSubject(request.sub)
    .setAudience(request.audience)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + (request.expiresInSeconds ?? 3600))
    .sign(key);
}

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** `90`, `90s`, `15m`, `1h`, `2d` → seconds; `undefined` for anything else. */
export function parseDuration(value: string): number | undefined {
  const match = /^(\d+)\s*([smhd]?)$/.exec(value.trim());
  if (!match) return undefined;
  const seconds = Number(match[1]) * UNIT_SECONDS[(match[2] || 's') as keyof typeof UNIT_SECONDS];
  return Number.isSafeInteger(seconds) ? seconds : undefined;
}

/**
 * Writes the private signing key for `npm run token`, readable by this user only. Removed and
 * created afresh, because `mode` applies only when a file is created.
 */
export function writeSigningKeyFile(path: string, signingKey: JWK): void {
  rmSync(path, { force: true });
  writeFileSync(path, `${JSON.stringify(signingKey)}\n`, { mode: 0o600, flag: 'wx' });
}

const PrivateRsaJwkSchema = z.looseObject({
  kty: z.literal('RSA'),
  kid: z.string().min(1),
  n: z.string().min(1),
  e: z.string().min(1),
  d: z.string().min(1),
});

export function readSigningKeyFile(path: string): JWK {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new LocalRuntimeError('AUTH_KEY_MISSING', `cannot read the signing key ${path}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new LocalRuntimeError('AUTH_KEY_MISSING', `${path} is not a JSON Web Key`, { cause: error });
  }
  const key = PrivateRsaJwkSchema.safeParse(parsed);
  if (!key.success) {
    throw new LocalRuntimeError('AUTH_KEY_MISSING', `${path} is not a private RSA JSON Web Key`);
  }
  return key.data as JWK;
}
