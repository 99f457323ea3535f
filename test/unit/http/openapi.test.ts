import { readFileSync } from 'node:fs';
import { compileErrors, validate } from '@readme/openapi-parser';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '#core/http/openapi-document';
import { ROUTES } from '../../../contract/index.ts';
import { OPENAPI_FILE, renderOpenApi } from '../../../scripts/generate-openapi.ts';

const committed = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'));

describe('Document: openapi.json', () => {
  it('is up to date with the schemas and routes (run `npm run openapi` after changing them)', () => {
    expect(readFileSync(OPENAPI_FILE, 'utf8')).toBe(renderOpenApi());
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await validate(structuredClone(committed));
    expect(result.valid ? '' : compileErrors(result)).toBe('');
  });

  it('describes exactly the routes the API serves', () => {
    const documented = Object.entries(committed.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(ROUTES.map((route) => `${route.method} ${route.path}`).sort());
  });

  it('refuses to build a document for a route it has no description of', () => {
    expect(() =>
      buildOpenApiDocument([...ROUTES, { method: 'GET', path: '/nowhere', function: 'jobs' }]),
    ).toThrow(/no OpenAPI operation for GET \/nowhere/);
  });

  it('carries the model input rules from the zod schema', () => {
    const request = committed.components.schemas.EditRequest;
    expect(request.required).toEqual(['prompt', 'image_urls']);
    expect(request.additionalProperties).toBe(false);
    expect(request.properties.image_urls).toMatchObject({ minItems: 1, maxItems: 4 });
    expect(request.properties.guidance_scale).toMatchObject({ minimum: 0, maximum: 20, default: 2.5 });
    expect(request.properties.image_size.enum).toEqual([
      'square_hd',
      'square',
      'portrait_4_3',
      'portrait_16_9',
      'landscape_4_3',
      'landscape_16_9',
    ]);
    expect(request.properties.output_format).toMatchObject({ enum: ['jpeg', 'png', 'webp'], default: 'png' });
  });
});
