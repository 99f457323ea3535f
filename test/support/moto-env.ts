import { vi } from 'vitest';

/**
 * Points the SDK clients a test builds at the emulator, with the fake credentials moto takes
 * (undone by `vi.unstubAllEnvs()`).
 */
export function stubAwsEnvFor(endpoint: string): void {
  vi.stubEnv('AWS_ENDPOINT_URL', endpoint);
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
}
