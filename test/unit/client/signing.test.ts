import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FluxEditClient, FluxEditConfigError } from '../../../client/index.ts';
import { defaultSigningMode, regionFromExecuteApiHost } from '../../../client/signing.ts';

const EXECUTE_API_URL = 'https://abc123defg.execute-api.eu-west-1.amazonaws.com';
const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const JOB = { id: 'job1', status: 'queued' };

/** A fetch that records each request's headers and answers with a job. */
function recordingFetch() {
  const seen: { url: string; method: string; headers: Headers; body: string | undefined }[] = [];
  const fetch = vi.fn(async (url: string | URL | Request, init?: RequestInit) => {
    seen.push({
      url: String(url),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? init.body : undefined,
    });
    return new Response(JSON.stringify(JOB), {
      status: 200,
      headers: { 'content-type': 'application/json' },
    });
  });
  return { fetch: fetch as unknown as typeof globalThis.fetch, seen };
}

describe('Function: regionFromExecuteApiHost', () => {
  it('reads the region of an API Gateway default endpoint', () => {
    expect(regionFromExecuteApiHost('abc123defg.execute-api.eu-west-1.amazonaws.com')).toBe('eu-west-1');
    expect(regionFromExecuteApiHost('abc123.execute-api.cn-north-1.amazonaws.com.cn')).toBe('cn-north-1');
  });

  it('finds no region in other hosts', () => {
    expect(regionFromExecuteApiHost('127.0.0.1')).toBeUndefined();
    expect(regionFromExecuteApiHost('api.example.com')).toBeUndefined();
    expect(regionFromExecuteApiHost('execute-api.eu-west-1.amazonaws.com.evil.example')).toBeUndefined();
  });
});

describe('Function: defaultSigningMode', () => {
  it('signs for execute-api hosts and not for the local runtime', () => {
    expect(defaultSigningMode(new URL(EXECUTE_API_URL))).toBe('sigv4');
    expect(defaultSigningMode(new URL('http://127.0.0.1:3000'))).toBe('none');
  });
});

describe('Class: FluxEditClient (signing)', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('signs a POST with SigV4 for execute-api in the host’s region', async () => {
    // Prepare
    const { fetch, seen } = recordingFetch();
    const client = new FluxEditClient({ apiUrl: EXECUTE_API_URL, credentials: CREDENTIALS, fetch });

    // Act
    await client.submit({ prompt: 'make it red', image_urls: ['https://example.com/a.png'] });

    // Assess
    const { headers, body } = seen[0]!;
    expect(headers.get('authorization')).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$/,
    );
    expect(headers.get('authorization')).toMatch(/SignedHeaders=[^,]*x-amz-content-sha256;x-amz-date/);
    expect(headers.get('x-amz-date')).toMatch(/^\d{8}T\d{6}Z$/);
    expect(headers.get('x-amz-content-sha256')).toBe(createHash('sha256').update(body!).digest('hex'));
    expect(headers.has('x-amz-security-token')).toBe(false);
  });

  it('signs a GET and sends the session token of temporary credentials', async () => {
    // Prepare
    const { fetch, seen } = recordingFetch();
    const client = new FluxEditClient({
      apiUrl: EXECUTE_API_URL,
      credentials: { ...CREDENTIALS, sessionToken: 'session-token' },
      fetch,
    });

    // Act
    await client.get('job1');

    // Assess
    const { headers, url } = seen[0]!;
    expect(url).toBe(`${EXECUTE_API_URL}/edits/job1`);
    expect(headers.get('authorization')).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\//);
    expect(headers.get('x-amz-security-token')).toBe('session-token');
    expect(headers.get('x-amz-content-sha256')).toBe(createHash('sha256').update('').digest('hex'));
  });

  it('asks a credentials provider again for each request, so refreshed credentials are used', async () => {
    // Prepare
    const { fetch } = recordingFetch();
    const provider = vi.fn(async () => CREDENTIALS);
    const client = new FluxEditClient({ apiUrl: EXECUTE_API_URL, credentials: provider, fetch });

    // Act
    await client.get('job1');
    await client.get('job1');

    // Assess
    expect(provider).toHaveBeenCalledTimes(2);
  });

  it('signs for the given region behind a custom domain when asked to', async () => {
    // Prepare
    const { fetch, seen } = recordingFetch();
    const client = new FluxEditClient({
      apiUrl: 'https://edits.example.com/v1',
      signing: 'sigv4',
      region: 'us-west-2',
      credentials: CREDENTIALS,
      fetch,
    });

    // Act
    await client.get('job1');

    // Assess
    expect(seen[0]!.url).toBe('https://edits.example.com/v1/edits/job1');
    expect(seen[0]!.headers.get('authorization')).toContain('/us-west-2/execute-api/aws4_request');
  });

  it('sends unsigned requests to the local runtime', async () => {
    // Prepare
    const { fetch, seen } = recordingFetch();
    const client = new FluxEditClient({ apiUrl: 'http://127.0.0.1:3000', fetch });

    // Act
    await client.get('job1');

    // Assess
    expect(seen[0]!.headers.has('authorization')).toBe(false);
    expect(seen[0]!.headers.has('x-amz-date')).toBe(false);
  });

  it('refuses SigV4 without any region to sign for', () => {
    // Prepare
    vi.stubEnv('AWS_REGION', '');
    vi.stubEnv('AWS_DEFAULT_REGION', '');

    // Act
    const construct = () =>
      new FluxEditClient({ apiUrl: 'https://edits.example.com', signing: 'sigv4', credentials: CREDENTIALS });

    // Assess
    expect(construct).toThrow(FluxEditConfigError);
    expect(construct).toThrow(/give the region/);
  });
});

describe('Class: FluxEditClient (bearer token)', () => {
  it('sends the token instead of a SigV4 signature, even to an execute-api host', async () => {
    // Prepare
    const { fetch, seen } = recordingFetch();
    const client = new FluxEditClient({ apiUrl: EXECUTE_API_URL, token: 'eyJ.a.b', fetch });

    // Act
    await client.get('job1');

    // Assess
    expect(seen[0]!.headers.get('authorization')).toBe('Bearer eyJ.a.b');
    expect(seen[0]!.headers.has('x-amz-date')).toBe(false);
  });

  it('asks a token function again for each request, so a refreshed token is used', async () => {
    // Prepare
    const { fetch, seen } = recordingFetch();
    let count = 0;
    const client = new FluxEditClient({
      apiUrl: 'http://127.0.0.1:3000',
      token: async () => `t${++count}`,
      fetch,
    });

    // Act
    await client.get('job1');
    await client.get('job1');

    // Assess
    expect(seen.map((request) => request.headers.get('authorization'))).toEqual(['Bearer t1', 'Bearer t2']);
  });

  it('refuses a token that is not one, and a token together with SigV4', async () => {
    // Prepare
    const { fetch } = recordingFetch();
    const injected = new FluxEditClient({ apiUrl: 'http://127.0.0.1:3000', token: 'a\r\nx-evil: 1', fetch });

    // Act & Assess
    await expect(injected.get('job1')).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    expect(
      () =>
        new FluxEditClient({
          apiUrl: EXECUTE_API_URL,
          token: 't',
          signing: 'sigv4',
          credentials: CREDENTIALS,
        }),
    ).toThrow(/either a bearer token or SigV4/);
  });
});
