import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { FluxEditConfigError } from './errors.ts';

/** `sigv4`: IAM-authorised API Gateway routes; `none`: the local runtime (and custom auth in front). */
export type SigningMode = 'sigv4' | 'none';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** Called before every signature, so it should cache (the SDK's providers do). */
export type AwsCredentialsProvider = () => Promise<AwsCredentials>;

/**
 * A bearer token (a JWT of the issuer the API trusts), or a function returning the current one:
 * called before every request, so it can hand out a refreshed token.
 */
export type BearerToken = string | (() => string | Promise<string>);

/** What a signer needs of a request, and what it hands back: the headers to send. */
export interface SignableRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

export interface RequestSigner {
  sign(request: SignableRequest): Promise<Record<string, string>>;
}

export const SIGNING_SERVICE = 'execute-api';

const EXECUTE_API_HOST = /^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/i;

/** The region of an API Gateway default endpoint (`abc123.execute-api.eu-west-1.amazonaws.com`). */
export function regionFromExecuteApiHost(hostname: string): string | undefined {
  return EXECUTE_API_HOST.exec(hostname)?.[1]?.toLowerCase();
}

/**
 * Signing is SigV4 for API Gateway's default endpoints and none elsewhere (the local runtime
 * on 127.0.0.1). Behind a custom domain, ask for `sigv4` explicitly and give the region.
 */
export function defaultSigningMode(apiUrl: URL): SigningMode {
  return regionFromExecuteApiHost(apiUrl.hostname) ? 'sigv4' : 'none';
}

export const unsignedRequests: RequestSigner = {
  sign: async (request) => request.headers,
};

/**
 * Signs requests for API Gateway with AWS Signature V4 (service `execute-api`). Without
 * `credentials`, the SDK's default Node chain (env, SSO, profiles, container/instance roles)
 * is loaded on first use, so unsigned local use never pays for it.
 *
 * @example
 * const signer = createSigV4Signer({ region: 'eu-west-1', credentials: { accessKeyId, secretAccessKey } });
 * const headers = await signer.sign({ method: 'GET', url: new URL('https://…/edits/abc'), headers: {} });
 */
export function createSigV4Signer(options: {
  region: string;
  credentials?: AwsCredentials | AwsCredentialsProvider;
  service?: string;
}): RequestSigner {
  const credentials = options.credentials ?? defaultCredentialsProvider();
  const signer = new SignatureV4({
    service: options.service ?? SIGNING_SERVICE,
    region: options.region,
    credentials,
    sha256: Sha256,
  });
  return {
    async sign(request) {
      const { url } = request;
      const signed = await signer.sign({
        method: request.method,
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port ? Number(url.port) : undefined,
        // Already percent-encoded, as sent; SigV4 for execute-api encodes it once more.
        path: url.pathname,
        query: queryOf(url),
        headers: { ...request.headers, host: url.host },
        body: request.body,
      });
      // fetch derives Host from the URL itself (the same value that was signed).
      const { host: _host, ...headers } = signed.headers;
      return headers;
    },
  };
}

/** A token is visible ASCII (RFC 6750's token68 and more): never a header injection. */
const TOKEN = /^[\x21-\x7e]+$/;

/**
 * Sends `Authorization: Bearer <token>`, for an API behind a JWT authorizer (deployed with
 * `apiAuthorization: { type: 'jwt' }`, or the local runtime with `API_AUTH=jwt`).
 */
export function createBearerSigner(token: BearerToken): RequestSigner {
  return {
    async sign(request) {
      const value = typeof token === 'function' ? await token() : token;
      if (typeof value !== 'string' || !TOKEN.test(value)) {
        throw new FluxEditConfigError('TOKEN_INVALID', 'the bearer token is empty or not a token');
      }
      return { ...request.headers, authorization: `Bearer ${value}` };
    },
  };
}

/**
 * Picks the signer for a client's options: a bearer token when one is given, else SigV4 or none
 * by `signing`; a SigV4 signer needs a region, given or from the host.
 */
export function signerFor(options: {
  apiUrl: URL;
  signing?: SigningMode;
  region?: string;
  credentials?: AwsCredentials | AwsCredentialsProvider;
  token?: BearerToken;
}): RequestSigner {
  if (options.token !== undefined) {
    // Both would be the Authorization header: an API takes one kind of auth.
    if (options.signing === 'sigv4') {
      throw new FluxEditConfigError(
        'TOKEN_WITH_SIGV4',
        'give either a bearer token or SigV4 signing, not both',
      );
    }
    return createBearerSigner(options.token);
  }
  const mode = options.signing ?? defaultSigningMode(options.apiUrl);
  if (mode === 'none') return unsignedRequests;
  const region =
    options.region ??
    regionFromExecuteApiHost(options.apiUrl.hostname) ??
    process.env.AWS_REGION ??
    process.env.AWS_DEFAULT_REGION;
  if (!region) {
    throw new FluxEditConfigError(
      'REGION_MISSING',
      `cannot sign requests to ${options.apiUrl.host}: give the region (option \`region\` or AWS_REGION)`,
    );
  }
  return createSigV4Signer({ region, credentials: options.credentials });
}

function queryOf(url: URL): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const key of new Set(url.searchParams.keys())) {
    const values = url.searchParams.getAll(key);
    query[key] = values.length === 1 ? values[0]! : values;
  }
  return query;
}

function defaultCredentialsProvider(): AwsCredentialsProvider {
  let provider: Promise<AwsCredentialsProvider> | undefined;
  return async () => {
    provider ??= import('@aws-sdk/credential-providers').then(({ fromNodeProviderChain }) =>
      fromNodeProviderChain(),
    );
    return (await provider)();
  };
}
