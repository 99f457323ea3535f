import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JSONWebKeySet, type JWK } from 'jose';
import { LOCAL_JWT_ALGORITHM, mintToken, type TokenRequest } from './jwt-token.ts';

/** The audience local tokens are for, unless `LOCAL_JWT_AUDIENCE` says otherwise. */
export const DEFAULT_LOCAL_AUDIENCE = 'flux-edit-local';
/** The admin scope in local JWT mode, unless `ADMIN_SCOPE` says otherwise: `npm run token -- --scope admin`. */
export const DEFAULT_LOCAL_ADMIN_SCOPE = 'admin';

export interface LocalIssuerOptions {
  /** The `iss` of its tokens. @default its own URL, `http://127.0.0.1:<port>` */
  issuer?: string;
  /** Accepted audiences; tokens are minted for the first. @default ['flux-edit-local'] */
  audience?: readonly string[];
}

export interface LocalIssuer {
  /** Where it serves `/.well-known/openid-configuration` and `/.well-known/jwks.json`. */
  readonly url: string;
  readonly issuer: string;
  readonly audience: readonly string[];
  readonly jwksUri: string;
  /** The public keys, as served at `jwksUri`. */
  readonly jwks: JSONWebKeySet;
  /** The private key (JWK): `npm start` hands it to `npm run token` in a file only this user can read. */
  readonly signingKey: JWK;
  /** A token of this issuer (for the first audience unless the request names another). */
  mint(request: Omit<TokenRequest, 'issuer' | 'audience'> & { audience?: string }): Promise<string>;
  close(): Promise<void>;
}

/**
 * A minimal OIDC issuer on loopback for the local runtime's JWT mode: a fresh RS256 key pair at
 * every start (kept in memory for the life of the process), published the way API Gateway finds
 * an issuer's keys — the discovery document at `<issuer>/.well-known/openid-configuration`
 * pointing at the JWKS. It signs only for this process and `npm run token`; it has no login.
 *
 * @example
 * const issuer = await startLocalIssuer();
 * const token = await issuer.mint({ sub: 'alice' });
 */
export async function startLocalIssuer(options: LocalIssuerOptions = {}): Promise<LocalIssuer> {
  const { privateKey, publicKey } = await generateKeyPair(LOCAL_JWT_ALGORITHM, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const jwks: JSONWebKeySet = { keys: [{ ...publicJwk, kid, alg: LOCAL_JWT_ALGORITHM, use: 'sig' }] };
  const signingKey: JWK = { ...(await exportJWK(privateKey)), kid, alg: LOCAL_JWT_ALGORITHM };

  let discovery = '';
  const server = createServer((request, response) => {
    request.resume();
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const body =
      request.method !== 'GET'
        ? undefined
        : path === '/.well-known/jwks.json'
          ? JSON.stringify(jwks)
          : path === '/.well-known/openid-configuration'
            ? discovery
            : undefined;
    response.statusCode = body === undefined ? 404 : 200;
    response.setHeader('content-type', 'application/json');
    response.end(body ?? JSON.stringify({ message: 'Not Found' }));
  });
  const url = await listen(server);
  const issuer = options.issuer ?? url;
  const audience = [...(options.audience ?? [DEFAULT_LOCAL_AUDIENCE])];
  const jwksUri = `${url}/.well-known/jwks.json`;
  discovery = JSON.stringify({
    issuer,
    jwks_uri: jwksUri,
    id_token_signing_alg_values_supported: [LOCAL_JWT_ALGORITHM],
    response_types_supported: ['token'],
    subject_types_supported: ['public'],
  });

  return {
    url,
    issuer,
    audience,
    jwksUri,
    jwks,
    signingKey,
    mint: (request) =>
      mintToken(signingKey, { ...request, issuer, audience: request.audience ?? (audience[0] as string) }),
    close: () =>
      new Promise((closed) => {
        server.close(() => closed());
        server.closeAllConnections();
      }),
  };
}

function listen(server: Server): Promise<string> {
  return new Promise((listening, failed) => {
    server.once('error', failed);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', failed);
      const { address, port } = server.address() as AddressInfo;
      listening(`http://${address}:${port}`);
    });
  });
}
