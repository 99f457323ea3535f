import { describe, expect, it } from 'vitest';
import { loadConfig } from '#contract/config';
import { tokenFrom } from '#shared/runcomfy-token';
import { MINIMAL_FUNCTION_ENV } from '../../support/function-env.ts';

const minimal = MINIMAL_FUNCTION_ENV;

describe('Function: loadConfig', () => {
  it('applies safe defaults', () => {
    const config = loadConfig(minimal);
    expect(config).toMatchObject({
      runComfyBaseUrl: 'https://model-api.runcomfy.net',
      jobDeadlineSeconds: 900,
      outputHostAllowlist: ['*.runcomfy.net'],
      allowLoopbackHttp: false,
      outputPrefix: 'edits/',
    });
  });

  it('names every missing or bad variable, and never echoes values', () => {
    expect(() => loadConfig({ ...minimal, JOBS_TABLE: '', JOB_DEADLINE_SECONDS: 'soon' })).toThrow(
      /JOBS_TABLE: is required.*JOB_DEADLINE_SECONDS/,
    );
    expect(() => loadConfig({ ...minimal, RUNCOMFY_API_TOKEN: 'tok-123' })).toThrow(/exactly one of/);
    try {
      loadConfig({ ...minimal, RUNCOMFY_API_TOKEN: 'tok-123' });
    } catch (error) {
      expect(String(error)).not.toContain('tok-123');
    }
  });

  it('parses the output host allowlist as a trimmed, lower-cased list', () => {
    const config = loadConfig({ ...minimal, OUTPUT_HOST_ALLOWLIST: '*.RunComfy.net, 127.0.0.1 ,' });
    expect(config.outputHostAllowlist).toEqual(['*.runcomfy.net', '127.0.0.1']);
  });
});

describe('Function: tokenFrom', () => {
  it('takes a bare token or JSON with a token field', () => {
    expect(tokenFrom(' abc ')).toBe('abc');
    expect(tokenFrom('{"token":"xyz"}')).toBe('xyz');
  });

  it('refuses an empty or malformed secret without echoing it', () => {
    for (const value of ['', '{"apiKey":"s3cr3t"}', '{not json s3cr3t', undefined]) {
      expect(() => tokenFrom(value)).toThrow(/RunComfy token secret/);
      try {
        tokenFrom(value);
      } catch (error) {
        expect(String(error)).not.toContain('s3cr3t');
      }
    }
  });
});
