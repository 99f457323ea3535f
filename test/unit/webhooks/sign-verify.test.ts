import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WebhookSecretError } from '#core/webhooks/errors';
import {
  decodeSigningSecret,
  decodeSigningSecrets,
  generateSigningSecret,
  signWebhook,
  webhookSignature,
} from '#core/webhooks/sign';
import { verifyWebhook, WebhookVerificationError } from '#core/webhooks/verify';

/** The Standard Webhooks specification's published test vector. */
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const AT_VECTOR_TIME = VECTOR.timestamp * 1000;

const vectorHeaders = (overrides: Record<string, string | undefined> = {}) => ({
  'webhook-id': VECTOR.id,
  'webhook-timestamp': String(VECTOR.timestamp),
  'webhook-signature': VECTOR.signature,
  ...overrides,
});

function verificationCode(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookVerificationError);
    return (error as WebhookVerificationError).code;
  }
  return undefined;
}

describe('Function: signWebhook', () => {
  it('reproduces the Standard Webhooks test vector', () => {
    // Act
    const headers = signWebhook([decodeSigningSecret(VECTOR.secret)], VECTOR);

    // Assess
    expect(headers).toEqual({
      'webhook-id': VECTOR.id,
      'webhook-timestamp': '1614265330',
      'webhook-signature': VECTOR.signature,
    });
  });

  it('signs with every key, space-separated, while a secret is rotated', () => {
    // Prepare
    const next = generateSigningSecret();
    const keys = decodeSigningSecrets(`${VECTOR.secret} ${next}`);

    // Act
    const headers = signWebhook(keys, VECTOR);

    // Assess
    const [first, second] = headers['webhook-signature'].split(' ');
    expect(first).toBe(VECTOR.signature);
    expect(second).toBe(
      webhookSignature(decodeSigningSecret(next), VECTOR.id, VECTOR.timestamp, VECTOR.body),
    );
  });

  it('signs the raw bytes of the body the same as its text', () => {
    // Act
    const fromBytes = webhookSignature(
      decodeSigningSecret(VECTOR.secret),
      VECTOR.id,
      VECTOR.timestamp,
      Buffer.from(VECTOR.body),
    );

    // Assess
    expect(fromBytes).toBe(VECTOR.signature);
  });
});

describe('Function: decodeSigningSecret', () => {
  it('takes the key from the base64 after whsec_, or from bare base64', () => {
    // Prepare
    const key = Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64');

    // Act & Assess
    expect(decodeSigningSecret(VECTOR.secret)).toEqual(key);
    expect(decodeSigningSecret('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toEqual(key);
    expect(decodeSigningSecret(generateSigningSecret())).toHaveLength(32);
  });

  it('refuses what is not base64 or too short, without echoing the secret', () => {
    for (const secret of ['whsec_not*base64*s3cr3t', 'whsec_czNjcjN0', '', 'whsec_']) {
      // Act
      const attempt = () => decodeSigningSecret(secret);

      // Assess
      expect(attempt).toThrow(WebhookSecretError);
      try {
        attempt();
      } catch (error) {
        expect(String(error)).not.toContain('s3cr3t');
        expect(String(error)).not.toContain('czNjcjN0');
      }
    }
  });
});

describe('Function: verifyWebhook', () => {
  it('accepts the test vector and returns the parsed body', () => {
    // Act
    const verified = verifyWebhook(VECTOR.secret, vectorHeaders(), VECTOR.body, { now: AT_VECTOR_TIME });

    // Assess
    expect(verified).toEqual({ id: VECTOR.id, timestamp: VECTOR.timestamp, payload: { test: 2432232314 } });
  });

  it('accepts fetch Headers, raw bytes and capitalised header names', () => {
    // Act & Assess
    expect(
      verifyWebhook(VECTOR.secret, new Headers(vectorHeaders()), Buffer.from(VECTOR.body), {
        now: AT_VECTOR_TIME,
      }).id,
    ).toBe(VECTOR.id);
    const capitalised = Object.fromEntries(
      Object.entries(vectorHeaders()).map(([name, value]) => [name.replace(/^w/, 'W'), value]),
    );
    expect(verifyWebhook(VECTOR.secret, capitalised, VECTOR.body, { now: AT_VECTOR_TIME }).id).toBe(
      VECTOR.id,
    );
  });

  it('refuses a tampered body', () => {
    // Act & Assess
    expect(
      verificationCode(() =>
        verifyWebhook(VECTOR.secret, vectorHeaders(), '{"test": 2432232315}', { now: AT_VECTOR_TIME }),
      ),
    ).toBe('NO_MATCHING_SIGNATURE');
  });

  it('refuses a signature made with another secret', () => {
    // Act & Assess
    expect(
      verificationCode(() =>
        verifyWebhook(generateSigningSecret(), vectorHeaders(), VECTOR.body, { now: AT_VECTOR_TIME }),
      ),
    ).toBe('NO_MATCHING_SIGNATURE');
  });

  it('refuses a signature over another id or timestamp (the signed content binds them)', () => {
    // Act & Assess
    expect(
      verificationCode(() =>
        verifyWebhook(VECTOR.secret, vectorHeaders({ 'webhook-id': 'msg_other' }), VECTOR.body, {
          now: AT_VECTOR_TIME,
        }),
      ),
    ).toBe('NO_MATCHING_SIGNATURE');
    expect(
      verificationCode(() =>
        verifyWebhook(VECTOR.secret, vectorHeaders({ 'webhook-timestamp': '1614265331' }), VECTOR.body, {
          now: AT_VECTOR_TIME,
        }),
      ),
    ).toBe('NO_MATCHING_SIGNATURE');
  });

  it('refuses timestamps outside the tolerance, either way, and accepts its edges', () => {
    // Act & Assess
    const at = (offsetSeconds: number, toleranceSeconds?: number) =>
      verificationCode(() =>
        verifyWebhook(VECTOR.secret, vectorHeaders(), VECTOR.body, {
          now: AT_VECTOR_TIME + offsetSeconds * 1000,
          toleranceSeconds,
        }),
      );
    expect(at(301)).toBe('TIMESTAMP_TOO_OLD');
    expect(at(-301)).toBe('TIMESTAMP_TOO_NEW');
    expect(at(300)).toBeUndefined();
    expect(at(-300)).toBeUndefined();
    expect(at(61, 60)).toBe('TIMESTAMP_TOO_OLD');
  });

  it('refuses a timestamp that is not unix seconds', () => {
    for (const timestamp of ['2021-02-25T15:02:10Z', '1614265330.5', '-1', '']) {
      // Act
      const code = verificationCode(() =>
        verifyWebhook(VECTOR.secret, vectorHeaders({ 'webhook-timestamp': timestamp }), VECTOR.body, {
          now: AT_VECTOR_TIME,
        }),
      );

      // Assess
      expect(code).toBe(timestamp === '' ? 'MISSING_HEADERS' : 'INVALID_TIMESTAMP');
    }
  });

  it('finds the matching signature among several, and ignores other versions', () => {
    // Prepare
    const other = webhookSignature(
      decodeSigningSecret(generateSigningSecret()),
      VECTOR.id,
      VECTOR.timestamp,
      VECTOR.body,
    );
    const signature = `v1a,${VECTOR.signature.slice(3)} ${other} v1,bm90LWEtc2lnbmF0dXJl ${VECTOR.signature}`;

    // Act
    const verified = verifyWebhook(
      VECTOR.secret,
      vectorHeaders({ 'webhook-signature': signature }),
      VECTOR.body,
      {
        now: AT_VECTOR_TIME,
      },
    );

    // Assess
    expect(verified.id).toBe(VECTOR.id);
  });

  it('does not take a signature under another version for a v1 one', () => {
    // Act & Assess
    expect(
      verificationCode(() =>
        verifyWebhook(
          VECTOR.secret,
          vectorHeaders({ 'webhook-signature': `v2,${VECTOR.signature.slice(3)}` }),
          VECTOR.body,
          { now: AT_VECTOR_TIME },
        ),
      ),
    ).toBe('NO_MATCHING_SIGNATURE');
  });

  it('accepts any of several secrets (the receiver rotating its secret)', () => {
    // Act
    const verified = verifyWebhook([generateSigningSecret(), VECTOR.secret], vectorHeaders(), VECTOR.body, {
      now: AT_VECTOR_TIME,
    });

    // Assess
    expect(verified.id).toBe(VECTOR.id);
  });

  it('names missing headers, a bad secret and a body that is not JSON', () => {
    // Prepare
    const notJson = 'plain text';
    const signature = `v1,${createHmac('sha256', decodeSigningSecret(VECTOR.secret))
      .update(`${VECTOR.id}.${VECTOR.timestamp}.${notJson}`)
      .digest('base64')}`;

    // Act & Assess
    expect(
      verificationCode(() =>
        verifyWebhook(VECTOR.secret, vectorHeaders({ 'webhook-signature': undefined }), VECTOR.body),
      ),
    ).toBe('MISSING_HEADERS');
    expect(
      verificationCode(() =>
        verifyWebhook('whsec_***', vectorHeaders(), VECTOR.body, { now: AT_VECTOR_TIME }),
      ),
    ).toBe('INVALID_SECRET');
    expect(
      verificationCode(() =>
        verifyWebhook(VECTOR.secret, vectorHeaders({ 'webhook-signature': signature }), notJson, {
          now: AT_VECTOR_TIME,
        }),
      ),
    ).toBe('INVALID_PAYLOAD');
  });

  it('verifies what signWebhook signed, at the current time by default', () => {
    // Prepare
    const secret = generateSigningSecret();
    const body = JSON.stringify({ event_id: 'job-1:succeeded' });
    const headers = signWebhook([decodeSigningSecret(secret)], {
      id: 'job-1:succeeded',
      timestamp: Math.floor(Date.now() / 1000),
      body,
    });

    // Act
    const verified = verifyWebhook(secret, { ...headers }, body);

    // Assess
    expect(verified.payload).toEqual({ event_id: 'job-1:succeeded' });
  });
});
