import type { RunComfyClient } from '#core/runcomfy/client';

/**
 * The RunComfy client and its response schemas, loaded by the first call, for a function that
 * calls RunComfy now and then (a cancel, a sweep): `JobDepsOptions.loadRunComfyClient`. A module
 * of its own, so that the functions that make the client at init hold no `import()` of it.
 */
export async function loadRunComfyClient(): Promise<typeof RunComfyClient> {
  return (await import('#core/runcomfy/client')).RunComfyClient;
}
