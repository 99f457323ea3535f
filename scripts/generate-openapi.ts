/** `npm run openapi`: writes openapi.json from the zod schemas and the routes (see functions/core/http/openapi-document.ts). */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildOpenApiDocument } from '../functions/core/http/openapi-document.ts';

export const OPENAPI_FILE = resolve(import.meta.dirname, '..', 'openapi.json');
export const renderOpenApi = () => `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`;

if (process.argv[1] === import.meta.filename) {
  writeFileSync(OPENAPI_FILE, renderOpenApi());
  console.log(`wrote ${OPENAPI_FILE}`);
}
