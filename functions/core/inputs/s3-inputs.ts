import type { FieldIssue } from '../errors.ts';
import type { Presigner } from '../ports.ts';
import { S3_URI } from '../validation.ts';

/** Where `s3://` inputs may come from: `bucket/prefix` entries (the stack's `uploads/` by default). */
export interface S3InputPolicy {
  allowed: { bucket: string; prefix: string }[];
  /**
   * The stack's own upload location: `POST /uploads` puts each caller's files under
   * `<prefix><owner key>/`, and a submission may name only its own owner's there.
   */
  uploads?: { bucket: string; prefix: string };
}

export function parseS3Allowlist(
  entries: readonly string[],
  uploads?: { bucket: string; prefix: string },
): S3InputPolicy {
  return {
    allowed: entries.map((entry) => {
      const [bucket = '', ...rest] = entry.split('/');
      return { bucket, prefix: rest.join('/') };
    }),
    ...(uploads ? { uploads } : {}),
  };
}

/**
 * Field issues for `s3://` inputs outside the allowed buckets and prefixes, or another caller's
 * uploads (path `image_urls/<n>`).
 */
export function checkS3Inputs(
  imageUrls: readonly string[],
  policy: S3InputPolicy,
  ownerKey?: string,
): FieldIssue[] {
  const issues: FieldIssue[] = [];
  imageUrls.forEach((url, index) => {
    const match = S3_URI.exec(url);
    if (!match) return;
    const [, bucket, key = ''] = match;
    const allowed = policy.allowed.some((entry) => entry.bucket === bucket && key.startsWith(entry.prefix));
    const uploads = policy.uploads;
    const someoneElses =
      uploads !== undefined &&
      ownerKey !== undefined &&
      bucket === uploads.bucket &&
      key.startsWith(uploads.prefix) &&
      !key.startsWith(`${uploads.prefix}${ownerKey}/`);
    if (!allowed || someoneElses || key.includes('..')) {
      issues.push({ path: `image_urls/${index}`, message: 'this s3:// location is not allowed as an input' });
    }
  });
  return issues;
}

/**
 * Turns `s3://` inputs into short-lived presigned HTTPS GET URLs that RunComfy can fetch;
 * `https://` inputs pass through. Done at each submission, so a retried submission never hands
 * RunComfy an expired URL.
 */
export async function resolveImageUrls(
  imageUrls: readonly string[],
  presigner: Pick<Presigner, 'get'>,
  expiresInSeconds = 3600,
): Promise<string[]> {
  return Promise.all(
    imageUrls.map((url) => {
      const match = S3_URI.exec(url);
      if (!match) return url;
      const [, bucket = '', key = ''] = match;
      return presigner.get(bucket, key, expiresInSeconds);
    }),
  );
}
