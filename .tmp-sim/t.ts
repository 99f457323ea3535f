import sharp from 'sharp';
import { renderImage } from '../simulator/images.ts';
for (const format of ['png','jpeg','webp'] as const) {
  for (const minBytes of [0, 1001, 25*1024*1024+1]) {
    const t=Date.now();
    const buf = await renderImage({ format, width: 768, height: 1024, key: 'k', minBytes });
    const meta = await sharp(buf).metadata();
    const raw = await sharp(buf).raw().toBuffer({resolveWithObject:true});
    const px = raw.data.subarray(0,3);
    console.log(format, minBytes, buf.length, meta.format, meta.width, meta.height, raw.info.width, [...px], Date.now()-t, 'ms');
  }
}
