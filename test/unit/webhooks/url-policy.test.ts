import { describe, expect, it } from 'vitest';
import { checkWebhookUrl, webhookUrlProblem } from '#core/webhooks/url-policy';

const AWS = { allowLoopbackHttp: false };
const LOCAL = { allowLoopbackHttp: true };

describe('Function: checkWebhookUrl', () => {
  it('always allows https', () => {
    // Act & Assess
    expect(checkWebhookUrl('https://hooks.example.com/flux?token=abc', AWS)).toEqual([]);
    expect(checkWebhookUrl('https://hooks.example.com:8443/flux', AWS)).toEqual([]);
  });

  it('allows plain http only to loopback, and only where the policy says so', () => {
    // Act & Assess
    for (const url of ['http://127.0.0.1:4000/hook', 'http://localhost/hook', 'http://[::1]:80/hook']) {
      expect(checkWebhookUrl(url, LOCAL)).toEqual([]);
      expect(checkWebhookUrl(url, AWS)).toEqual([
        { path: 'webhook_url', message: 'must be an https:// URL' },
      ]);
    }
    expect(webhookUrlProblem('http://hooks.example.com/hook', LOCAL)).toBe('must be an https:// URL');
    expect(webhookUrlProblem('http://127.0.0.1.nip.io/hook', LOCAL)).toBe('must be an https:// URL');
  });

  it('refuses a user name or password in the URL', () => {
    // Act & Assess
    expect(webhookUrlProblem('https://user:pass@hooks.example.com/', AWS)).toBe(
      'must not contain a user name or password',
    );
    expect(webhookUrlProblem('http://user@127.0.0.1/', LOCAL)).toBe(
      'must not contain a user name or password',
    );
  });

  it('refuses other schemes and what is not a URL', () => {
    // Act & Assess
    expect(webhookUrlProblem('ftp://hooks.example.com/', LOCAL)).toBe('must be an https:// URL');
    expect(webhookUrlProblem('javascript:alert(1)', LOCAL)).toBe('must be an https:// URL');
    expect(webhookUrlProblem('/relative/hook', LOCAL)).toBe('must be an absolute https:// URL');
  });

  it('has nothing to say when no URL was given', () => {
    // Act & Assess
    expect(checkWebhookUrl(undefined, AWS)).toEqual([]);
  });
});

describe('Function: isInternalHost (SSRF guard outside the local runtime)', () => {
  it.each([
    'https://169.254.169.254/latest/meta-data',
    'https://10.0.0.8/hook',
    'https://172.20.1.1/hook',
    'https://192.168.1.1/hook',
    'https://127.0.0.1/hook',
    'https://100.64.0.1/hook',
    'https://[::1]/hook',
    'https://[fd00::1]/hook',
    'https://[::ffff:10.0.0.1]/hook',
    'https://localhost/hook',
    'https://db.internal/hook',
  ])('refuses %s', (url) => {
    expect(checkWebhookUrl(url, { allowLoopbackHttp: false })).toEqual([
      { path: 'webhook_url', message: 'must not point to a loopback, private or link-local address' },
    ]);
  });

  it.each([
    'https://hooks.example.com/x',
    'https://8.8.8.8/x',
    'https://172.32.0.1/x',
    'https://[2001:db8::1]/x',
  ])('accepts the public address %s', (url) => {
    expect(checkWebhookUrl(url, { allowLoopbackHttp: false })).toEqual([]);
  });
});
