import { describe, expect, it } from 'vitest';
import { loadConfig } from '#contract/config';
import { decodeSigningSecret, generateSigningSecret } from '#core/webhooks/sign';
import { webhookSigningKeys } from '#shared/webhook-deps';
import { MINIMAL_FUNCTION_ENV } from '../../support/function-env.ts';

const minimal = MINIMAL_FUNCTION_ENV;

describe('Function: loadConfig (webhooks)', () => {
  it('leaves webhooks off without a queue, and retries 5 s … 15 min for a day by default', () => {
    // Act
    const config = loadConfig(minimal);

    // Assess
    expect(config.webhookQueueUrl).toBeUndefined();
    expect(config.webhookRetryDelaysSeconds).toEqual([5, 30, 120, 300, 900]);
    expect(config.webhookRetryWindowSeconds).toBe(86_400);
  });

  it('reads the retry delays as whole seconds within SQS’s 900 s', () => {
    // Act & Assess
    expect(
      loadConfig({ ...minimal, WEBHOOK_RETRY_DELAYS_SECONDS: ' 1, 2 ,0' }).webhookRetryDelaysSeconds,
    ).toEqual([1, 2, 0]);
    for (const delays of ['1,soon', '901', '1.5', ',']) {
      expect(() => loadConfig({ ...minimal, WEBHOOK_RETRY_DELAYS_SECONDS: delays })).toThrow(
        /invalid configuration/,
      );
    }
  });

  it('takes at most one signing secret source, and never echoes the secret', () => {
    // Prepare
    const secret = generateSigningSecret();

    // Act
    const both = () =>
      loadConfig({
        ...minimal,
        WEBHOOK_SECRET_ARN: 'arn:aws:secretsmanager:x',
        WEBHOOK_SIGNING_SECRET: secret,
      });

    // Assess
    expect(both).toThrow(/at most one of WEBHOOK_SECRET_ARN and WEBHOOK_SIGNING_SECRET/);
    try {
      both();
    } catch (error) {
      expect(String(error)).not.toContain(secret.slice(6));
    }
  });
});

describe('Function: webhookSigningKeys', () => {
  it('uses the local secret, and a rotated pair as two keys', async () => {
    // Prepare
    const [current, next] = [generateSigningSecret(), generateSigningSecret()];

    // Act
    const keys = await webhookSigningKeys(
      loadConfig({ ...minimal, WEBHOOK_SIGNING_SECRET: `${current} ${next}` }),
    )();

    // Assess
    expect(keys).toEqual([decodeSigningSecret(current), decodeSigningSecret(next)]);
  });

  it('fails at cold start without a secret, or with one that is not a webhook secret', () => {
    // Act & Assess
    expect(() => webhookSigningKeys(loadConfig(minimal))).toThrow(
      /WEBHOOK_SECRET_ARN.*WEBHOOK_SIGNING_SECRET/,
    );
    expect(() =>
      webhookSigningKeys(loadConfig({ ...minimal, WEBHOOK_SIGNING_SECRET: 'whsec_short-s3cr3t' })),
    ).toThrow(/not `whsec_` followed by base64/);
  });
});
