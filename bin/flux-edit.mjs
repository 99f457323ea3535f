#!/usr/bin/env node
// The npm bin of flux-edit: the CLI as `npm run build` (and so `npm pack`) compiles it to dist/,
// so it needs no TypeScript loader. In this repository `npm run flux-edit --` runs the sources.
const cli = new URL('../dist/client/cli.js', import.meta.url);
try {
  await import(cli.href);
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes(cli.pathname)) throw error;
  console.error('flux-edit is not built: run `npm run build`, or `npm run flux-edit --` to run the sources.');
  process.exitCode = 2;
}
