import * as z from 'zod/mini';
import { HTTPS_URL, text, VISIBLE_TEXT } from './validation.ts';

/** Pixel sizes of the model's `image_size` presets (RunComfy/fal preset table). */
export const IMAGE_SIZE_PIXELS = {
  square_hd: { width: 1024, height: 1024 },
  square: { width: 512, height: 512 },
  portrait_4_3: { width: 768, height: 1024 },
  portrait_16_9: { width: 576, height: 1024 },
  landscape_4_3: { width: 1024, height: 768 },
  landscape_16_9: { width: 1024, height: 576 },
} as const;

export const IMAGE_SIZES = Object.keys(IMAGE_SIZE_PIXELS) as [keyof typeof IMAGE_SIZE_PIXELS, ...string[]];
export const OUTPUT_FORMATS = ['jpeg', 'png', 'webp'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export { MODEL_ID } from './model.ts';

/** A URL's length cap: four of them, with the rest of a job, stay far below DynamoDB's 400 KB item. */
export const MAX_URL_CHARS = 2048;
export const MAX_PROMPT_CHARS = 10_000;

const httpsUrl = text({
  max: MAX_URL_CHARS,
  pattern: HTTPS_URL,
  patternMessage: 'must be an https:// URL',
  description: 'An https:// URL to a host name or IPv4 address (no IPv6 literal, no user name or password)',
});
/**
 * DynamoDB stores numbers down to 1e-130 only: a denormal such as 5e-324, which JSON allows, would
 * fail the job's write. Six decimal places are more than the model can tell apart.
 */
const roundGuidance = (value: number) => Math.round(value * 1e6) / 1e6;
const oneOf = (values: readonly string[]) => `must be one of: ${values.join(', ')}`;

/**
 * The input of `blackforestlabs/flux-2/flash/edit`, exactly as RunComfy's API page gives it,
 * with the documented defaults filled in so a stored job says what was really asked for.
 *
 * @example
 * EditInputSchema.parse({ prompt: 'make the cup red', image_urls: ['https://example.com/cup.png'] });
 */
export const EditInputSchema = z.object({
  prompt: text({
    min: 1,
    max: MAX_PROMPT_CHARS,
    pattern: VISIBLE_TEXT,
    patternMessage: 'must contain a visible character, and no control characters but tabs and line breaks',
    description:
      'What to change. At least one character that is not white space; tabs and line breaks are the only control characters allowed; well-formed Unicode (no lone UTF-16 surrogates).',
  }),
  image_urls: z
    .array(httpsUrl, 'must be an array of https:// URLs')
    .check(z.minLength(1, 'needs at least 1 image URL'), z.maxLength(4, 'allows at most 4 image URLs')),
  guidance_scale: z._default(
    z
      .number('must be a number')
      .check(
        z.gte(0, 'must be ≥ 0'),
        z.lte(20, 'must be ≤ 20'),
        z.overwrite(roundGuidance),
        z.describe('How closely to follow the prompt; used to 6 decimal places'),
      ),
    2.5,
  ),
  seed: z.optional(z.int('must be an integer')),
  image_size: z._default(z.enum(IMAGE_SIZES, oneOf(IMAGE_SIZES)), 'square_hd'),
  output_format: z._default(z.enum(OUTPUT_FORMATS, oneOf(OUTPUT_FORMATS)), 'png'),
});

export type EditInput = z.infer<typeof EditInputSchema>;
