import type { Presigner } from '#core/ports';
import { onFirstUse } from './job-deps.ts';

/*
 * S3 for a function that has no S3 client at init and needs one only now and then. Each loader is
 * one `import()` of one module, in a module of its own: esbuild splits a bundle into a chunk per
 * set of entry points sharing code, and a dynamic entry a function never uses still splits the
 * code read at cold start into more files (see `JobDepsOptions.presigner`).
 */

/** A presigner, made with its S3 client by the first `s3://` input (`JobDepsOptions.presigner`). */
export function lazyPresigner(): () => Promise<Presigner> {
  return onFirstUse(async () => (await import('./s3-presigning.ts')).createS3Presigner());
}
