import { IMAGE_SIZE_PIXELS } from '#core/edit-input';
import type { Knobs } from './knobs.ts';

/**
 * The simulated server's own check of the `blackforestlabs/flux-2/flash/edit` input (§3.5).
 * It deliberately does not reuse the pipeline's schema: a simulator that shares the client's
 * validator could never catch the client sending something the server rejects.
 * Errors follow FastAPI/pydantic's `detail` items so clients meet the shape they would in production.
 */

export const FLASH_EDIT_MODEL_ID = 'blackforestlabs/flux-2/flash/edit';

export type OutputFormat = 'jpeg' | 'png' | 'webp';

export interface EditRequest {
  prompt: string;
  image_urls: string[];
  guidance_scale: number;
  /** Absent when the caller sent none; the store then picks one. */
  seed: number | undefined;
  image_size: string | { width: number; height: number };
  output_format: OutputFormat;
  width: number;
  height: number;
}

export interface DetailItem {
  loc: (string | number)[];
  msg: string;
  type: string;
  input?: unknown;
  ctx?: Record<string, unknown>;
}

export type ValidationResult = { ok: true; input: EditRequest } | { ok: false; detail: DetailItem[] };

type ValidationKnobs = Pick<
  Knobs,
  | 'allow_http_inputs'
  | 'allow_data_uris'
  | 'truncate_extra_images'
  | 'allow_custom_size'
  | 'reject_unknown_keys'
>;

const KNOWN_KEYS = ['prompt', 'image_urls', 'guidance_scale', 'seed', 'image_size', 'output_format'];
const FORMATS: readonly OutputFormat[] = ['jpeg', 'png', 'webp'];
const PRESETS = Object.keys(IMAGE_SIZE_PIXELS);
const MAX_IMAGES = 4;
const DATA_URI = /^data:image\/(png|jpeg|jpg|webp|gif);base64,[A-Za-z0-9+/=\s]+$/;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const expected = (values: readonly string[]) =>
  `Input should be ${values
    .slice(0, -1)
    .map((v) => `'${v}'`)
    .join(', ')} or '${values.at(-1)}'`;

export function validateEditInput(body: unknown, knobs: ValidationKnobs): ValidationResult {
  if (!isObject(body)) {
    return {
      ok: false,
      detail: [
        {
          loc: ['body'],
          msg: 'Input should be a valid dictionary or object to extract fields from',
          type: 'model_attributes_type',
          input: body,
        },
      ],
    };
  }
  const detail: DetailItem[] = [];
  const issue = (field: (string | number)[], msg: string, type: string, input: unknown, ctx?: object) =>
    detail.push({ loc: ['body', ...field], msg, type, input, ...(ctx ? { ctx: { ...ctx } } : {}) });

  const prompt = checkPrompt(body.prompt, issue);
  const imageUrls = checkImageUrls(body.image_urls, knobs, issue);
  const guidance = checkGuidance(body.guidance_scale, issue);
  const seed = checkSeed(body.seed, issue);
  const size = checkImageSize(body.image_size, knobs, issue);
  const format = checkOutputFormat(body.output_format, issue);

  if (knobs.reject_unknown_keys) {
    for (const key of Object.keys(body).filter((key) => !KNOWN_KEYS.includes(key))) {
      issue([key], 'Extra inputs are not permitted', 'extra_forbidden', body[key]);
    }
  }
  if (detail.length > 0) return { ok: false, detail };
  return {
    ok: true,
    input: {
      prompt: prompt as string,
      image_urls: imageUrls as string[],
      guidance_scale: guidance as number,
      seed,
      image_size: size!.name,
      output_format: format as OutputFormat,
      width: size!.width,
      height: size!.height,
    },
  };
}

type Issue = (field: (string | number)[], msg: string, type: string, input: unknown, ctx?: object) => void;

function checkPrompt(value: unknown, issue: Issue): string | undefined {
  if (value === undefined) return void issue(['prompt'], 'Field required', 'missing', undefined);
  if (typeof value !== 'string')
    return void issue(['prompt'], 'Input should be a valid string', 'string_type', value);
  if (value.trim().length === 0) {
    return void issue(['prompt'], 'String should have at least 1 character', 'string_too_short', value, {
      min_length: 1,
    });
  }
  return value;
}

function checkImageUrls(value: unknown, knobs: ValidationKnobs, issue: Issue): string[] | undefined {
  if (value === undefined) return void issue(['image_urls'], 'Field required', 'missing', undefined);
  if (!Array.isArray(value))
    return void issue(['image_urls'], 'Input should be a valid list', 'list_type', value);
  if (value.length === 0) {
    return void issue(
      ['image_urls'],
      'List should have at least 1 item after validation, not 0',
      'too_short',
      value,
      { field_type: 'List', min_length: 1, actual_length: 0 },
    );
  }
  if (value.length > MAX_IMAGES && !knobs.truncate_extra_images) {
    return void issue(
      ['image_urls'],
      `List should have at most ${MAX_IMAGES} items after validation, not ${value.length}`,
      'too_long',
      value,
      { field_type: 'List', max_length: MAX_IMAGES, actual_length: value.length },
    );
  }
  const urls = value.slice(0, MAX_IMAGES);
  let valid = true;
  urls.forEach((url, index) => {
    const problem = imageUriProblem(url, knobs);
    if (problem) {
      valid = false;
      issue(['image_urls', index], problem.msg, problem.type, url);
    }
  });
  return valid ? (urls as string[]) : undefined;
}

function imageUriProblem(url: unknown, knobs: ValidationKnobs): { msg: string; type: string } | undefined {
  if (typeof url !== 'string') return { msg: 'Input should be a valid string', type: 'string_type' };
  if (url.startsWith('data:')) {
    if (!knobs.allow_data_uris) return { msg: 'data: URIs are not accepted', type: 'url_scheme' };
    return DATA_URI.test(url) ? undefined : { msg: 'Invalid base64 image data URI', type: 'value_error' };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { msg: 'Input should be a valid URL, relative URL without a base', type: 'url_parsing' };
  }
  const schemes = knobs.allow_http_inputs ? ['https:', 'http:'] : ['https:'];
  if (!schemes.includes(parsed.protocol)) {
    return {
      msg: `URL scheme should be ${schemes.map((s) => `'${s.slice(0, -1)}'`).join(' or ')}`,
      type: 'url_scheme',
    };
  }
  return undefined;
}

function checkGuidance(value: unknown, issue: Issue): number | undefined {
  if (value === undefined) return 2.5;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return void issue(['guidance_scale'], 'Input should be a valid number', 'float_type', value);
  }
  if (value < 0) {
    return void issue(
      ['guidance_scale'],
      'Input should be greater than or equal to 0',
      'greater_than_equal',
      value,
      {
        ge: 0,
      },
    );
  }
  if (value > 20) {
    return void issue(
      ['guidance_scale'],
      'Input should be less than or equal to 20',
      'less_than_equal',
      value,
      {
        le: 20,
      },
    );
  }
  return value;
}

function checkSeed(value: unknown, issue: Issue): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return void issue(['seed'], 'Input should be a valid integer', 'int_type', value);
  }
  if (!Number.isInteger(value)) {
    return void issue(
      ['seed'],
      'Input should be a valid integer, got a number with a fractional part',
      'int_from_float',
      value,
    );
  }
  return value;
}

function checkImageSize(
  value: unknown,
  knobs: ValidationKnobs,
  issue: Issue,
): { name: EditRequest['image_size']; width: number; height: number } | undefined {
  if (value === undefined) return { name: 'square_hd', ...IMAGE_SIZE_PIXELS.square_hd };
  if (typeof value === 'string' && value in IMAGE_SIZE_PIXELS) {
    return { name: value, ...IMAGE_SIZE_PIXELS[value as keyof typeof IMAGE_SIZE_PIXELS] };
  }
  if (knobs.allow_custom_size && isObject(value)) {
    const { width, height } = value;
    const inRange = (n: unknown): n is number =>
      Number.isInteger(n) && (n as number) >= 512 && (n as number) <= 2048;
    if (inRange(width) && inRange(height)) return { name: { width, height }, width, height };
    return void issue(
      ['image_size'],
      'width and height must be integers between 512 and 2048',
      'value_error',
      value,
    );
  }
  return void issue(['image_size'], expected(PRESETS), 'enum', value, { expected: PRESETS.join(', ') });
}

function checkOutputFormat(value: unknown, issue: Issue): OutputFormat | undefined {
  if (value === undefined) return 'png';
  if (typeof value === 'string' && (FORMATS as readonly string[]).includes(value))
    return value as OutputFormat;
  return void issue(['output_format'], expected(FORMATS), 'enum', value, { expected: FORMATS.join(', ') });
}
