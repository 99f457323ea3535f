/**
 * `npm run schemas`: writes the JSON Schema of every event the pipeline announces to
 * schemas/events/<name>.schema.json, generated from the zod schemas in
 * functions/core/notify/events.ts (their single source). `--check` writes nothing and fails when
 * a committed file is stale; the unit tests make the same check.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod/mini';
import { JOB_EVENTS } from '../functions/core/notify/events.ts';

export const SCHEMA_DIR = resolve(import.meta.dirname, '..', 'schemas', 'events');

/**
 * Each event's JSON Schema (draft 2020-12) by file name. Objects are left open to additional
 * properties: a consumer validating with these keeps working when a field is added.
 */
export function renderEventSchemas(): Map<string, Record<string, unknown>> {
  const rendered = new Map<string, Record<string, unknown>>();
  for (const { schema, file, detailType } of Object.values(JOB_EVENTS)) {
    const json = z.toJSONSchema(schema, {
      target: 'draft-2020-12',
      override: ({ jsonSchema }) => {
        if (jsonSchema.additionalProperties === false) delete jsonSchema.additionalProperties;
      },
    });
    rendered.set(`${file}.schema.json`, {
      ...json,
      $comment: `Generated from functions/core/notify/events.ts by \`npm run schemas\`; EventBridge detail-type "${detailType}".`,
    });
  }
  return rendered;
}

export function schemaText(schema: Record<string, unknown>): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}

function main(argv: string[]): void {
  const check = argv.includes('--check');
  const stale: string[] = [];
  if (!check) mkdirSync(SCHEMA_DIR, { recursive: true });
  for (const [file, schema] of renderEventSchemas()) {
    const path = resolve(SCHEMA_DIR, file);
    if (!check) {
      writeFileSync(path, schemaText(schema));
      console.log(`wrote ${path}`);
      continue;
    }
    let committed: unknown;
    try {
      committed = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      committed = undefined;
    }
    if (JSON.stringify(committed) !== JSON.stringify(schema)) stale.push(file);
  }
  if (stale.length > 0) {
    console.error(`stale event schemas: ${stale.join(', ')}; run \`npm run schemas\``);
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
