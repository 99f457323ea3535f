import type { IncomingHttpHeaders } from 'node:http';
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTPayload, jwtVerify } from 'jose';
import { UnauthorizedError } from '#core/errors';
import { LOCAL_JWT_ALGORITHM } from './jwt-token.ts';

export interface JwtAuthorizerOptions {
  issuer: string;
  /** Accepted audiences: the token's `aud` (or, without one, its `client_id`) must be one of them. */
  audience: readonly string[];
  jwks: JSONWebKeySet;
  /** @default Date.now */
  now?: () => number;
}

/** What API Gateway puts at `requestContext.authorizer` for a route behind a JWT authorizer. */
export interface JwtAuthorizerContext {
  jwt: {
    /** Every claim as a string, as API Gateway passes them (numbers as text, lists as `[a b]`). */
    claims: Record<string, string>;
    /** `null`: API Gateway fills it only for routes with authorization scopes (ours have none). */
    scopes: string[] | null;
  };
}

/** Authorizes a request from its headers, or throws `UnauthorizedError` (a 401). */
export type RequestAuthorizer = (headers: IncomingHttpHeaders) => Promise<JwtAuthorizerContext>;

/**
 * Verifies bearer tokens as API Gateway's HTTP API JWT authorizer does (identity source
 * `$request.header.Authorization`), with jose:
 * - the header holds the token, with or without `Bearer `; none at all is refused;
 * - the signature, by the JWKS key the header's `kid` names (a `kid` is required), RSA only (RS256);
 * - `iss` equals the issuer; `aud` is one of the audiences, or without `aud`, `client_id` is;
 * - `exp` is after now, `nbf` (if any) and `iat` (if any) are not after now, with no leeway.
 * One deliberate difference: a token without `exp` is refused here (API Gateway's documentation
 * does not say); and the 401 is problem+json (`UNAUTHORIZED`), not API Gateway's
 * `{"message":"Unauthorized"}`. The reason for a refusal is never told to the caller.
 */
export function createJwtAuthorizer(options: JwtAuthorizerOptions): RequestAuthorizer {
  const keys = createLocalJWKSet(options.jwks);
  const now = options.now ?? Date.now;
  return async (headers) => {
    const token = tokenOf(headers.authorization);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(
        token,
        (header, input) => {
          // createLocalJWKSet would take a lone key for a header without `kid`: API Gateway does not.
          if (!header.kid) throw new errors.JWKSNoMatchingKey();
          return keys(header, input);
        },
        {
          issuer: options.issuer,
          algorithms: [LOCAL_JWT_ALGORITHM],
          requiredClaims: ['exp'],
          currentDate: new Date(now()),
        },
      ));
    } catch (error) {
      if (error instanceof errors.JOSEError) throw new UnauthorizedError('the token is not valid');
      throw error;
    }
    const nowSeconds = Math.floor(now() / 1000);
    if (typeof payload.iat === 'number' && payload.iat > nowSeconds) {
      throw new UnauthorizedError('the token is not valid');
    }
    if (!audienceMatches(payload, options.audience)) throw new UnauthorizedError('the token is not valid');
    return { jwt: { claims: claimsAsStrings(payload), scopes: null } };
  };
}

function tokenOf(header: string | undefined): string {
  const value = header?.trim() ?? '';
  if (value === '')
    throw new UnauthorizedError('send a bearer token: Authorization: Bearer <token>', { tokenSent: false });
  return /^bearer\s+/i.test(value) ? value.replace(/^bearer\s+/i, '') : value;
}

/** API Gateway checks `aud`; only a token without one is checked by its `client_id`. */
function audienceMatches(payload: JWTPayload, audience: readonly string[]): boolean {
  if (payload.aud !== undefined) {
    const given = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    return given.some((value) => audience.includes(value));
  }
  return typeof payload.client_id === 'string' && audience.includes(payload.client_id);
}

function claimsAsStrings(payload: JWTPayload): Record<string, string> {
  return Object.fromEntries(
    Object.entries(payload).map(([name, value]) => [
      name,
      typeof value === 'string'
        ? value
        : Array.isArray(value)
          ? `[${value.map(String).join(' ')}]`
          : typeof value === 'object' && value !== null
            ? JSON.stringify(value)
            : String(value),
    ]),
  );
}
