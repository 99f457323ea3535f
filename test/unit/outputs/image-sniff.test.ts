import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { SNIFF_BYTES, sniffImageType } from '#core/outputs/index';

const pixel = () => sharp({ create: { width: 2, height: 2, channels: 3, background: '#c0ffee' } });

describe('Function: sniffImageType', () => {
  it.each([
    ['png', () => pixel().png().toBuffer(), 'image/png', 'png'],
    ['jpeg', () => pixel().jpeg().toBuffer(), 'image/jpeg', 'jpg'],
    ['webp', () => pixel().webp().toBuffer(), 'image/webp', 'webp'],
    ['gif', () => pixel().gif().toBuffer(), 'image/gif', 'gif'],
  ])('recognises a real %s', async (_name, make, contentType, extension) => {
    // Prepare
    const bytes = await make();

    // Act
    const type = sniffImageType(bytes.subarray(0, SNIFF_BYTES));

    // Assess
    expect(type).toEqual({ contentType, extension });
  });

  it('recognises an AVIF file type box', () => {
    // Prepare
    const head = Buffer.from([0, 0, 0, 0x1c, ...Buffer.from('ftypavif')]);

    // Act & Assess
    expect(sniffImageType(head)).toEqual({ contentType: 'image/avif', extension: 'avif' });
  });

  it.each([
    ['HTML', Buffer.from('<!DOCTYPE html><html>')],
    ['JSON', Buffer.from('{"error":"expired"}  ')],
    ['SVG (scriptable)', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg">')],
    ['a RIFF that is not WebP', Buffer.from('RIFF\0\0\0\0WAVEfmt ')],
    ['an ISO-BMFF that is not AVIF', Buffer.from('\0\0\0\x18ftypmp42')],
    ['zeros', Buffer.alloc(32)],
    ['a head that is too short', Buffer.from([0xff, 0xd8, 0xff])],
  ])('refuses %s', (_name, head) => {
    expect(sniffImageType(head)).toBeUndefined();
  });
});
