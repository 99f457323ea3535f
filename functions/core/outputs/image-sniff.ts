/** An image format the pipeline stores, with the content type and key extension it is stored under. */
export interface ImageType {
  contentType: 'image/png' | 'image/jpeg' | 'image/webp' | 'image/gif' | 'image/avif';
  extension: 'png' | 'jpg' | 'webp' | 'gif' | 'avif';
}

export const IMAGE_TYPES = {
  png: { contentType: 'image/png', extension: 'png' },
  jpeg: { contentType: 'image/jpeg', extension: 'jpg' },
  webp: { contentType: 'image/webp', extension: 'webp' },
  gif: { contentType: 'image/gif', extension: 'gif' },
  avif: { contentType: 'image/avif', extension: 'avif' },
} as const satisfies Record<string, ImageType>;

/** Bytes needed to tell every supported format apart (RIFF/ISO-BMFF put their brand at 8..12). */
export const SNIFF_BYTES = 12;

const ascii = (head: Uint8Array, start: number, end: number) =>
  String.fromCharCode(...head.subarray(start, end));
const startsWith = (head: Uint8Array, magic: readonly number[]) => magic.every((byte, i) => head[i] === byte);

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;
const JPEG_MAGIC = [0xff, 0xd8, 0xff] as const;

/**
 * Identifies an image by its magic number, never by what the server claims in `Content-Type`:
 * an HTML error page served as `image/png` is still HTML. Needs {@link SNIFF_BYTES} bytes;
 * returns `undefined` for anything else, including a head that is too short.
 *
 * @example
 * sniffImageType(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])); // png
 */
export function sniffImageType(head: Uint8Array): ImageType | undefined {
  if (head.length < SNIFF_BYTES) return undefined;
  if (startsWith(head, PNG_MAGIC)) return IMAGE_TYPES.png;
  if (startsWith(head, JPEG_MAGIC)) return IMAGE_TYPES.jpeg;
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return IMAGE_TYPES.webp;
  const gif = ascii(head, 0, 6);
  if (gif === 'GIF87a' || gif === 'GIF89a') return IMAGE_TYPES.gif;
  // ISO-BMFF: a `ftyp` box first, whose major brand names the format (AVIF still or sequence).
  const brand = ascii(head, 8, 12);
  if (ascii(head, 4, 8) === 'ftyp' && (brand === 'avif' || brand === 'avis')) return IMAGE_TYPES.avif;
  return undefined;
}
