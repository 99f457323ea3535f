import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { SNIFF_BYTES, sniffImageType } from '#core/outputs/image-sniff';
import { InputImageError } from './errors.ts';
import { MAX_UPLOAD_BYTES, UPLOAD_CONTENT_TYPES, type UploadContentType } from './types.ts';

export interface LocalImage {
  path: string;
  filename: string;
  contentType: UploadContentType;
  sizeBytes: number;
}

/**
 * Checks a local file before anything is sent: its type comes from its magic bytes (a
 * `.png` that is really a JPEG is uploaded as a JPEG), and it must be one the API accepts.
 *
 * @example
 * const image = await inspectImageFile('./cup.png'); // { contentType: 'image/png', sizeBytes: 48213, ... }
 */
export async function inspectImageFile(path: string): Promise<LocalImage> {
  let file: Awaited<ReturnType<typeof open>>;
  try {
    file = await open(path, 'r');
  } catch (error) {
    const reason = (error as { code?: string }).code === 'ENOENT' ? 'no such file' : String(error);
    throw new InputImageError('IMAGE_UNREADABLE', `cannot read ${path}: ${reason}`, { cause: error });
  }
  try {
    const { size } = await file.stat();
    const head = new Uint8Array(SNIFF_BYTES);
    const { bytesRead } = await file.read(head, 0, SNIFF_BYTES, 0);
    const type = sniffImageType(head.subarray(0, bytesRead));
    const contentType = UPLOAD_CONTENT_TYPES.find((accepted) => accepted === type?.contentType);
    if (!contentType) {
      throw new InputImageError(
        'IMAGE_TYPE_UNSUPPORTED',
        `${path} is ${type ? type.contentType : 'not a recognised image'}; upload a PNG, JPEG or WebP image`,
      );
    }
    if (size > MAX_UPLOAD_BYTES) {
      throw new InputImageError(
        'IMAGE_TOO_LARGE',
        `${path} is ${size} bytes; the limit is ${MAX_UPLOAD_BYTES} bytes (50 MiB)`,
      );
    }
    return { path, filename: basename(path), contentType, sizeBytes: size };
  } finally {
    await file.close();
  }
}

const EXTENSIONS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'image/avif': 'avif',
};

/** The file extension an output is saved under; the job's requested format when the type is unknown. */
export function extensionFor(contentType: string, fallbackFormat: string | undefined): string {
  const known = EXTENSIONS[contentType.split(';')[0]!.trim().toLowerCase()];
  if (known) return known;
  return fallbackFormat === 'jpeg' ? 'jpg' : (fallbackFormat ?? 'bin');
}
