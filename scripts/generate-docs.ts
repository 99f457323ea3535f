/**
 * `npm run docs`: writes the generated parts of the documents — the job lifecycle diagram, from
 * `functions/core/jobs/lifecycle.ts` — between their markers. A test fails when they are stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { renderStateDiagram } from '../functions/core/jobs/lifecycle.ts';

const ROOT = resolve(import.meta.dirname, '..');
export const DOCUMENTS_WITH_LIFECYCLE = ['README.md', 'ARCHITECTURE.md'];

/** The document with its `lifecycle` block replaced by the generated diagram. */
export function withLifecycle(text: string): string {
  const start = '<!-- lifecycle:start -->';
  const end = '<!-- lifecycle:end -->';
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) return text;
  return `${text.slice(0, from + start.length)}\n\`\`\`mermaid\n${renderStateDiagram()}\n\`\`\`\n${text.slice(to)}`;
}

if (process.argv[1] === import.meta.filename) {
  for (const name of DOCUMENTS_WITH_LIFECYCLE) {
    const file = resolve(ROOT, name);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    writeFileSync(file, withLifecycle(text));
    console.log(`wrote ${name}`);
  }
}
