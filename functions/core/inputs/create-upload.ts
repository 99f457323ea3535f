import { randomUUID } from 'node:crypto';
import * as z from 'zod/mini';
import type { Presigner } from '../ports.ts';
import { parseOrThrow, SINGLE_LINE, text } from '../validation.ts';

const EXTENSIONS = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  // A batch manifest (JSONL, one edit request per line) for `POST /batches`.
  'application/x-ndjson': 'jsonl',
} as const;
type UploadContentType = keyof typeof EXTENSIONS;

/** RunComfy recommends input images of at most 50 MB. */
export const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;
const UPLOAD_URL_SECONDS = 900;

export const UploadRequestSchema = z
  .strictObject({
    content_type: z.enum(
      Object.keys(EXTENSIONS) as [UploadContentType],
      'must be image/png, image/jpeg, image/webp, or application/x-ndjson (a batch manifest)',
    ),
    size_bytes: z
      .int('must be an integer')
      .check(z.gte(1, 'must be at least 1'), z.lte(MAX_UPLOAD_BYTES, 'must be at most 50 MiB')),
    filename: z.optional(
      text({
        min: 1,
        max: 200,
        pattern: SINGLE_LINE,
        patternMessage: 'must not contain control characters',
        description:
          'Kept in the object key, with every character but A-Z a-z 0-9 . _ - replaced by `_`: no control characters; well-formed Unicode.',
      }),
    ),
  })
  .check(
    z.meta({
      examples: [
        { content_type: 'image/png', size_bytes: 1843221, filename: 'cup.png' },
        { content_type: 'image/jpeg', size_bytes: 52428800 },
        { content_type: 'application/x-ndjson', size_bytes: 734003, filename: 'catalogue.jsonl' },
      ],
    }),
  );

export interface UploadTicket {
  upload_url: string;
  method: 'PUT';
  /** Headers the PUT must carry exactly: the signature covers them. */
  headers: Record<string, string>;
  s3_uri: string;
  expires_at: string;
}

/**
 * A presigned PUT for one input image. The signature covers the content type and length, so
 * the upload can be neither another kind of file nor larger than declared.
 */
export async function createUpload(
  deps: { presigner: Pick<Presigner, 'put'>; bucket: string; prefix: string; now: () => number },
  body: unknown,
  /** Uploads land under the owner's key: a submission may name only its owner's. */
  ownerKey: string,
): Promise<UploadTicket> {
  const request = parseOrThrow(UploadRequestSchema, body, 'upload request');
  const extension = EXTENSIONS[request.content_type];
  const base = (request.filename ?? `image.${extension}`)
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^\.+/, '');
  const key = `${deps.prefix}${ownerKey}/${randomUUID()}/${base || `image.${extension}`}`;
  const uploadUrl = await deps.presigner.put(
    deps.bucket,
    key,
    { contentType: request.content_type, contentLength: request.size_bytes },
    UPLOAD_URL_SECONDS,
  );
  return {
    upload_url: uploadUrl,
    method: 'PUT',
    headers: { 'content-type': request.content_type, 'content-length': String(request.size_bytes) },
    s3_uri: `s3://${deps.bucket}/${key}`,
    expires_at: new Date(deps.now() + UPLOAD_URL_SECONDS * 1000).toISOString(),
  };
}
