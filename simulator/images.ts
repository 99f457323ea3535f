import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import type { OutputFormat } from './validation.ts';

/** Extension and Content-Type of each output format (§3.7). */
export const FORMAT_FILES: Record<OutputFormat, { ext: string; contentType: string }> = {
  jpeg: { ext: 'jpg', contentType: 'image/jpeg' },
  png: { ext: 'png', contentType: 'image/png' },
  webp: { ext: 'webp', contentType: 'image/webp' },
};

export interface ImageSpec {
  format: OutputFormat;
  width: number;
  height: number;
  /** Anything that identifies the edit (seed, prompt, image URLs, output index): same key, same bytes. */
  key: string;
  /** Pad the encoded file with decoder-ignored data until it is at least this large. */
  minBytes: number;
}

/**
 * Encodes a real, decodable image whose colour is derived from a hash of the spec's key, so a
 * retried download or a re-run of the same edit gives identical bytes.
 *
 * @example
 * const png = await renderImage({ format: 'png', width: 512, height: 512, key: 'seed=1', minBytes: 0 });
 */
export async function renderImage(spec: ImageSpec): Promise<Buffer> {
  const digest = createHash('sha256').update(spec.key).digest();
  const background = { r: digest[0]!, g: digest[1]!, b: digest[2]! };
  const encoded = await sharp({ create: { width: spec.width, height: spec.height, channels: 3, background } })
    .toFormat(spec.format)
    .toBuffer();
  const missing = spec.minBytes - encoded.length;
  if (missing <= 0) return encoded;
  const noise = deterministicNoise(missing, digest.readUInt32BE(4) || 1);
  switch (spec.format) {
    case 'png':
      return padPng(encoded, noise);
    case 'jpeg':
      return padJpeg(encoded, noise);
    case 'webp':
      return padWebp(encoded, noise, spec.width, spec.height);
  }
}

/** Incompressible filler (xorshift32) so transfer compression cannot shrink a "large" output. */
function deterministicNoise(length: number, seed: number): Buffer {
  const words = new Uint32Array(Math.ceil(length / 4));
  let state = seed >>> 0;
  for (let i = 0; i < words.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    words[i] = state >>> 0;
  }
  return Buffer.from(words.buffer, 0, length);
}

/** Private ancillary PNG chunk: decoders skip it. Split so no decoder's per-chunk limit is hit. */
const PNG_PAD_CHUNK = Buffer.from('siMp', 'latin1');
const PNG_PAD_CHUNK_MAX = 1024 * 1024;
const PNG_IEND_LENGTH = 12;

function padPng(png: Buffer, noise: Buffer): Buffer {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < noise.length; offset += PNG_PAD_CHUNK_MAX) {
    const data = noise.subarray(offset, offset + PNG_PAD_CHUNK_MAX);
    const header = Buffer.alloc(8);
    header.writeUInt32BE(data.length, 0);
    PNG_PAD_CHUNK.copy(header, 4);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(data, crc32(PNG_PAD_CHUNK)), 0);
    chunks.push(header, data, crc);
  }
  const iendAt = png.length - PNG_IEND_LENGTH;
  return Buffer.concat([png.subarray(0, iendAt), ...chunks, png.subarray(iendAt)]);
}

/** APP15 segments right after SOI: application data every JPEG decoder skips. */
const JPEG_SEGMENT_MAX = 0xffff - 2;

function padJpeg(jpeg: Buffer, noise: Buffer): Buffer {
  const segments: Buffer[] = [];
  for (let offset = 0; offset < noise.length; offset += JPEG_SEGMENT_MAX) {
    const data = noise.subarray(offset, offset + JPEG_SEGMENT_MAX);
    const header = Buffer.from([0xff, 0xef, 0, 0]);
    header.writeUInt16BE(data.length + 2, 2);
    segments.push(header, data);
  }
  return Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);
}

/**
 * Unknown RIFF chunks are only allowed in the extended WebP format, so a simple file gets a
 * VP8X header first; the padding then follows the image chunk.
 */
function padWebp(webp: Buffer, noise: Buffer, width: number, height: number): Buffer {
  const body = webp.subarray(12);
  const parts: Buffer[] = [];
  if (body.toString('latin1', 0, 4) !== 'VP8X') {
    const vp8x = Buffer.alloc(18);
    vp8x.write('VP8X', 0, 'latin1');
    vp8x.writeUInt32LE(10, 4);
    vp8x.writeUIntLE(width - 1, 12, 3);
    vp8x.writeUIntLE(height - 1, 15, 3);
    parts.push(vp8x);
  }
  parts.push(body);
  const chunkHeader = Buffer.alloc(8);
  chunkHeader.write('SIMP', 0, 'latin1');
  chunkHeader.writeUInt32LE(noise.length, 4);
  parts.push(chunkHeader, noise);
  if (noise.length % 2 === 1) parts.push(Buffer.alloc(1));
  const riffBody = Buffer.concat(parts);
  const header = Buffer.alloc(12);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(riffBody.length + 4, 4);
  header.write('WEBP', 8, 'latin1');
  return Buffer.concat([header, riffBody]);
}
