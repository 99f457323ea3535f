#!/usr/bin/env node
// The npm bin of flux-edit: the CLI compiled to dist/ by `npm run build` (which `npm pack` runs),
// so it needs no TypeScript loader. In this repository without a build, `npm run flux-edit` runs
// the TypeScript sources with tsx.
await import('../dist/client/cli.js');
