import type { Knobs } from './knobs.ts';
import { FLASH_EDIT_MODEL_ID } from './validation.ts';

/** The input schema RunComfy's model page publishes for flash/edit (reference D4). */
const FLASH_EDIT_INPUT_SCHEMA = {
  type: 'object',
  title: 'Input',
  required: ['prompt', 'image_urls'],
  properties: {
    prompt: { title: 'Prompt', description: 'The prompt to edit the image.', type: 'string' },
    image_urls: {
      title: 'Images',
      description:
        'The URLs of the images for editing. A maximum of 4 images are allowed; if more are provided, only the first 4 will be used.',
      type: 'array',
      items: { type: 'string', format: 'image_uri' },
      maxItems: 4,
    },
    guidance_scale: { title: 'Guidance Scale', type: 'float', minimum: 0, maximum: 20, default: 2.5 },
    seed: { title: 'Seed', type: 'integer' },
    image_size: {
      title: 'Image Size',
      type: 'string',
      enum: ['square_hd', 'square', 'portrait_4_3', 'portrait_16_9', 'landscape_4_3', 'landscape_16_9'],
      default: 'square_hd',
    },
    output_format: {
      title: 'Output Format',
      description: 'The format of the generated image.',
      type: 'string',
      enum: ['jpeg', 'png', 'webp'],
      default: 'png',
    },
  },
};

export interface CatalogEntry {
  model_id: string;
  display_name: string;
  categories: string[];
  base_price_usd: number;
  price_unit: 'output';
  pricing_note: string;
  kind: 'model';
  description: string;
  model_url: string;
  input_schema?: unknown;
}

/** A catalog entry in the shape of `GET /v1/models[/{id}]` (reference §1.6); the price follows the knob. */
export function catalogEntry(modelId: string, knobs: Knobs, withSchema: boolean): CatalogEntry {
  const entry: CatalogEntry = {
    model_id: modelId,
    display_name: 'FLUX.2 [flash] Edit',
    categories: ['image-to-image'],
    base_price_usd: knobs.price_per_request_usd,
    price_unit: 'output',
    pricing_note: 'Simulated price per request',
    kind: 'model',
    description: 'Simulated FLUX.2 [flash] image editing',
    model_url: 'https://www.runcomfy.com/models/blackforestlabs/flux-2-flash/edit',
  };
  if (withSchema && modelId === FLASH_EDIT_MODEL_ID) entry.input_schema = FLASH_EDIT_INPUT_SCHEMA;
  return entry;
}
