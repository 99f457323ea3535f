import { describe, expect, it } from 'vitest';
import { EditInputSchema } from '#core/edit-input';

const valid = { prompt: 'make the cup red', image_urls: ['https://example.com/cup.png'] };

const pathsOf = (value: unknown) => {
  const result = EditInputSchema.safeParse(value);
  return result.success ? [] : result.error.issues.map((issue) => issue.path.join('/'));
};

describe('Schema: EditInputSchema', () => {
  it('fills in the documented defaults', () => {
    // Act
    const input = EditInputSchema.parse(valid);

    // Assess
    expect(input).toEqual({ ...valid, guidance_scale: 2.5, image_size: 'square_hd', output_format: 'png' });
  });

  it('accepts every documented option at its bounds', () => {
    const input = {
      ...valid,
      image_urls: [
        'https://a.example/1.png',
        'https://b.example/2.jpg',
        'https://c.example/3',
        'https://d.example/4',
      ],
      guidance_scale: 20,
      seed: 42,
      image_size: 'landscape_16_9',
      output_format: 'webp',
    };
    expect(EditInputSchema.parse(input)).toEqual(input);
    expect(EditInputSchema.parse({ ...valid, guidance_scale: 0 }).guidance_scale).toBe(0);
  });

  it.each([
    ['missing prompt', { image_urls: valid.image_urls }, 'prompt'],
    ['blank prompt', { ...valid, prompt: '   ' }, 'prompt'],
    ['prompt not a string', { ...valid, prompt: 7 }, 'prompt'],
    ['missing image_urls', { prompt: 'x' }, 'image_urls'],
    ['no image URL', { ...valid, image_urls: [] }, 'image_urls'],
    ['five image URLs', { ...valid, image_urls: Array(5).fill('https://a.example/x.png') }, 'image_urls'],
    ['http image URL', { ...valid, image_urls: ['http://a.example/x.png'] }, 'image_urls/0'],
    ['not a URL', { ...valid, image_urls: ['https://ok.example/x.png', 'cup.png'] }, 'image_urls/1'],
    ['guidance_scale above 20', { ...valid, guidance_scale: 21 }, 'guidance_scale'],
    ['guidance_scale below 0', { ...valid, guidance_scale: -0.1 }, 'guidance_scale'],
    ['guidance_scale a string', { ...valid, guidance_scale: '2' }, 'guidance_scale'],
    ['float seed', { ...valid, seed: 1.5 }, 'seed'],
    ['string seed', { ...valid, seed: '1' }, 'seed'],
    ['unknown image_size', { ...valid, image_size: 'huge' }, 'image_size'],
    ['unknown output_format', { ...valid, output_format: 'gif' }, 'output_format'],
  ])('rejects %s, naming the field', (_name, body, path) => {
    expect(pathsOf(body)).toEqual([path]);
  });
});
