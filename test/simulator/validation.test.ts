import { describe, expect, it } from 'vitest';
import { KnobsSchema } from '../../simulator/knobs.ts';
import { parseScript, scriptFromPrompt } from '../../simulator/script.ts';
import { validateEditInput } from '../../simulator/validation.ts';
import { VALID_INPUT } from './helpers.ts';

const defaults = KnobsSchema.parse({});

describe('Function: validateEditInput', () => {
  it('fills in the defaults of the optional fields', () => {
    // Act
    const result = validateEditInput(VALID_INPUT, defaults);

    // Assess
    expect(result).toEqual({
      ok: true,
      input: {
        ...VALID_INPUT,
        guidance_scale: 2.5,
        seed: undefined,
        image_size: 'square_hd',
        output_format: 'png',
        width: 1024,
        height: 1024,
      },
    });
  });

  it('accepts the documented ranges at their bounds', () => {
    // Act
    const results = [0, 20].map((guidance) =>
      validateEditInput(
        { ...VALID_INPUT, guidance_scale: guidance, seed: 0, image_urls: Array(4).fill('https://a/b') },
        defaults,
      ),
    );

    // Assess
    expect(results.every((result) => result.ok)).toBe(true);
  });

  it.each([
    ['a non-object body', [], ['body'], 'model_attributes_type'],
    ['a blank prompt', { ...VALID_INPUT, prompt: '   ' }, ['body', 'prompt'], 'string_too_short'],
    ['a numeric prompt', { ...VALID_INPUT, prompt: 3 }, ['body', 'prompt'], 'string_type'],
    [
      'image_urls as a string',
      { ...VALID_INPUT, image_urls: 'https://a/b' },
      ['body', 'image_urls'],
      'list_type',
    ],
    [
      'a non-URL item',
      { ...VALID_INPUT, image_urls: ['not a url'] },
      ['body', 'image_urls', 0],
      'url_parsing',
    ],
    [
      'guidance_scale -1',
      { ...VALID_INPUT, guidance_scale: -1 },
      ['body', 'guidance_scale'],
      'greater_than_equal',
    ],
    ['guidance_scale "2"', { ...VALID_INPUT, guidance_scale: '2' }, ['body', 'guidance_scale'], 'float_type'],
    ['a string seed', { ...VALID_INPUT, seed: '7' }, ['body', 'seed'], 'int_type'],
    [
      'a {width,height} image_size',
      { ...VALID_INPUT, image_size: { width: 512, height: 512 } },
      ['body', 'image_size'],
      'enum',
    ],
    [
      'a malformed data URI',
      { ...VALID_INPUT, image_urls: ['data:image/png;base64,%%%'] },
      ['body', 'image_urls', 0],
      'value_error',
    ],
  ])('rejects %s', (_name, body, loc, type) => {
    // Act
    const result = validateEditInput(body, defaults);

    // Assess
    expect(result).toMatchObject({ ok: false, detail: [{ loc, type }] });
  });

  it('reports every invalid field at once', () => {
    // Act
    const result = validateEditInput({ image_urls: [], output_format: 'gif' }, defaults);

    // Assess
    expect(result.ok).toBe(false);
    expect(!result.ok && result.detail.map((item) => item.loc.join('.'))).toEqual([
      'body.prompt',
      'body.image_urls',
      'body.output_format',
    ]);
  });

  it('accepts data: URIs unless allow_data_uris is off', () => {
    // Prepare
    const body = { ...VALID_INPUT, image_urls: ['data:image/png;base64,iVBORw0KGgo='] };

    // Act / Assess
    expect(validateEditInput(body, defaults).ok).toBe(true);
    expect(validateEditInput(body, { ...defaults, allow_data_uris: false }).ok).toBe(false);
  });

  it('accepts http:// inputs with allow_http_inputs', () => {
    // Act
    const result = validateEditInput(
      { ...VALID_INPUT, image_urls: ['http://127.0.0.1:9/a.png'] },
      {
        ...defaults,
        allow_http_inputs: true,
      },
    );

    // Assess
    expect(result.ok).toBe(true);
  });

  it('keeps the first 4 images with truncate_extra_images', () => {
    // Act
    const urls = [1, 2, 3, 4, 5].map((n) => `https://a/${n}.png`);
    const result = validateEditInput(
      { ...VALID_INPUT, image_urls: urls },
      { ...defaults, truncate_extra_images: true },
    );

    // Assess
    expect(result.ok && result.input.image_urls).toEqual(urls.slice(0, 4));
  });

  it('accepts {width, height} with allow_custom_size, within 512..2048', () => {
    // Act
    const knobs = { ...defaults, allow_custom_size: true };
    const ok = validateEditInput({ ...VALID_INPUT, image_size: { width: 640, height: 2048 } }, knobs);
    const tooBig = validateEditInput({ ...VALID_INPUT, image_size: { width: 4096, height: 512 } }, knobs);

    // Assess
    expect(ok.ok && [ok.input.width, ok.input.height]).toEqual([640, 2048]);
    expect(tooBig.ok).toBe(false);
  });

  it('ignores unknown keys unless reject_unknown_keys is set', () => {
    // Prepare
    const body = { ...VALID_INPUT, num_images: 2 };

    // Act / Assess
    expect(validateEditInput(body, defaults).ok).toBe(true);
    expect(validateEditInput(body, { ...defaults, reject_unknown_keys: true })).toMatchObject({
      ok: false,
      detail: [{ loc: ['body', 'num_images'], type: 'extra_forbidden' }],
    });
  });
});

describe('Function: parseScript', () => {
  it('parses flags and seconds', () => {
    // Act
    const script = parseScript(
      ' fail; queue_s=3 ; run_s=0.5; stall; expire_after_s=5;; error_shape=json_string ',
    );

    // Assess
    expect(script).toEqual({
      fail: true,
      queue_s: 3,
      run_s: 0.5,
      stall: true,
      expire_after_s: 5,
      error_shape: 'json_string',
    });
  });

  it.each(['boom', 'queue_s=-1', 'run_s=abc', 'error_shape=xml', 'fail=maybe'])('rejects "%s"', (text) => {
    // Act / Assess
    expect(() => parseScript(text)).toThrow(/sim script/);
  });

  it('reads [sim: …] blocks and magic tokens from a prompt', () => {
    // Act
    const script = scriptFromPrompt('red cup [sim: run_s=4] __STALL__', defaults);

    // Assess
    expect(script).toEqual({ run_s: 4, stall: true });
  });
});

describe('Function: mergeKnobs (via KnobsSchema)', () => {
  it('documents the contract defaults', () => {
    // Assess
    expect(defaults).toMatchObject({
      tokens: { 'sim-token': 'u1' },
      queue_delay_s: 0.5,
      run_delay_s: 2,
      workers: 1,
      clock_mode: 'timed',
      output_key: 'image',
      output_count: 1,
      auth_error_http: 400,
      status_on_failure: 'completed',
      result_success_status: 'succeeded',
      record_ttl_s: null,
      output_ttl_s: 604_800,
      price_per_request_usd: 0.01,
    });
  });
});
