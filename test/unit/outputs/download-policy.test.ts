import { describe, expect, it } from 'vitest';
import {
  checkDownloadUrl,
  type DownloadPolicy,
  isLoopbackHost,
  OutputCopyError,
  redactUrl,
} from '#core/outputs/index';

const policy: DownloadPolicy = {
  allowedHosts: ['*.runcomfy.net', 'files.example.com', '127.0.0.1', '::1'],
  maxBytes: 1024,
  allowLoopbackHttp: false,
};
const loopbackPolicy: DownloadPolicy = { ...policy, allowLoopbackHttp: true };

const refusal = (url: string, withPolicy = policy) => {
  try {
    checkDownloadUrl(url, withPolicy);
  } catch (error) {
    if (error instanceof OutputCopyError) return error.reason;
    throw error;
  }
  return 'accepted';
};

describe('Function: checkDownloadUrl', () => {
  it.each([
    'https://playgrounds-storage-public.runcomfy.net/tools/1/out.png',
    'https://a.b.c.runcomfy.net/out.png',
    'https://FILES.RunComfy.NET/out.png',
    'https://files.runcomfy.net:443/out.png',
    'https://files.example.com/out.png?X-Amz-Signature=abc',
  ])('accepts %s', (url) => {
    // Act
    const parsed = checkDownloadUrl(url, policy);

    // Assess
    expect(parsed).toBeInstanceOf(URL);
  });

  it.each([
    ['https://runcomfy.net/out.png', 'host_not_allowed'],
    ['https://runcomfy.net.evil.com/out.png', 'host_not_allowed'],
    ['https://evilruncomfy.net/out.png', 'host_not_allowed'],
    ['https://evil.com/x.runcomfy.net/out.png', 'host_not_allowed'],
    ['https://evil.com/?u=https://a.runcomfy.net', 'host_not_allowed'],
    ['https://sub.files.example.com/out.png', 'host_not_allowed'],
    ['https://files.example.com.evil.com/out.png', 'host_not_allowed'],
    ['https://files.runcomfy.net:8443/out.png', 'insecure_url'],
    ['https://user:pass@files.runcomfy.net/out.png', 'insecure_url'],
    ['https://files.runcomfy.net@evil.com/out.png', 'insecure_url'],
    ['http://files.runcomfy.net/out.png', 'insecure_url'],
    ['ftp://files.runcomfy.net/out.png', 'insecure_url'],
    ['file:///etc/passwd', 'insecure_url'],
    ['data:image/png;base64,iVBORw0KGgo=', 'insecure_url'],
    ['not a url', 'insecure_url'],
    ['/relative/out.png', 'insecure_url'],
  ])('refuses %s (%s)', (url, reason) => {
    // Act & Assess
    expect(refusal(url)).toBe(reason);
  });

  it('accepts plain http only for an allowlisted loopback host when the flag is on', () => {
    // Act & Assess
    expect(refusal('http://127.0.0.1:8080/out.png', loopbackPolicy)).toBe('accepted');
    expect(refusal('http://[::1]:8080/out.png', loopbackPolicy)).toBe('accepted');
    expect(refusal('http://127.0.0.1:8080/out.png', policy)).toBe('insecure_url');
    expect(refusal('http://files.runcomfy.net/out.png', loopbackPolicy)).toBe('insecure_url');
    // Loopback but not on the allowlist.
    expect(refusal('http://localhost:8080/out.png', loopbackPolicy)).toBe('host_not_allowed');
    expect(refusal('http://127.0.0.2:8080/out.png', loopbackPolicy)).toBe('host_not_allowed');
  });

  it('never lets a wildcard match an IP address', () => {
    // Prepare
    const wildcardIp = { ...loopbackPolicy, allowedHosts: ['*.0.0.1'] };

    // Act & Assess
    expect(refusal('http://127.0.0.1/out.png', wildcardIp)).toBe('host_not_allowed');
  });

  it('keeps the query string out of the error', () => {
    // Act
    let caught: unknown;
    try {
      checkDownloadUrl('https://evil.com/out.png?X-Amz-Credential=AKIA&X-Amz-Signature=secret', policy);
    } catch (error) {
      caught = error;
    }

    // Assess
    expect(caught).toBeInstanceOf(OutputCopyError);
    const error = caught as OutputCopyError;
    expect(error).toMatchObject({
      code: 'OUTPUT_COPY_FAILED',
      reason: 'host_not_allowed',
      url: 'https://evil.com/out.png',
    });
    expect(error.message).not.toContain('secret');
    expect(error.retryable).toBe(false);
  });
});

describe('Function: isLoopbackHost', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.255.0.9', true],
    ['localhost', true],
    ['[::1]', true],
    ['128.0.0.1', false],
    ['127.0.0.1.nip.io', false],
    ['10.0.0.1', false],
  ])('%s → %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });

  it('sees through the shorthand forms URL normalises', () => {
    expect(isLoopbackHost(new URL('http://127.1/').hostname)).toBe(true);
    expect(isLoopbackHost(new URL('http://0x7f.0.0.1/').hostname)).toBe(true);
  });
});

describe('Function: redactUrl', () => {
  it.each([
    ['https://a.runcomfy.net/x/1.png?X-Amz-Signature=s#frag', 'https://a.runcomfy.net/x/1.png'],
    ['https://user:pw@a.runcomfy.net/1.png', 'https://a.runcomfy.net/1.png'],
    ['data:image/png;base64,AAAA', 'data:…'],
    ['not a url?token=secret', 'not a url'],
  ])('%s → %s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });
});
