/**
 * `npm run build` (and `prepack`): the package's `dist/`, what `npm pack` ships.
 *
 * - `tsc -p tsconfig.build.json` compiles the entry points (the construct, the client and its
 *   CLI, the webhook verifier) and what they import to ESM JavaScript with `.d.ts` types;
 *   relative `.ts` specifiers become `.js` (`rewriteRelativeImportExtensions`).
 * - tsc leaves two kinds of specifier that only this repository's tools resolve: the package.json
 *   `imports` aliases (`#core/*` → `./functions/core/*.ts`: the source, which is not shipped) and,
 *   in declaration files, relative `.ts` specifiers. Both are rewritten to relative `.js` paths
 *   inside `dist/`, so plain Node and a consumer's tsc resolve the compiled files alone.
 * - The Lambda bundles go to `dist/assets/` (scripts/lambda-assets.ts).
 *
 * Progress goes to stderr: `npm pack --json` prints its report on stdout.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { LAMBDA_ASSETS_DIR } from '../infra/defaults/lambda-defaults.ts';
import { buildLambdaAssets } from './lambda-assets.ts';

const ROOT = resolve(import.meta.dirname, '..');
const DIST = join(ROOT, 'dist');
/** What tsc writes. */
const COMPILED = ['client', 'contract', 'functions', 'infra'];
/** dist/ is rebuilt whole but for the Lambda assets, which their own build keeps current in place. */
const ASSETS = relative(DIST, LAMBDA_ASSETS_DIR);

/** package.json `imports`: `#core/*` → `functions/core/` (target without `./` and `*.ts`). */
function aliases(): [prefix: string, directory: string][] {
  const { imports } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    imports: Record<string, string>;
  };
  return Object.entries(imports).map(([pattern, target]) => {
    if (!pattern.endsWith('*') || !target.startsWith('./') || !target.endsWith('*.ts'))
      throw new Error(`unexpected package.json import ${pattern}: ${target}`);
    return [pattern.slice(0, -1), target.slice(2, -'*.ts'.length)];
  });
}

/** Module specifiers in tsc's output: `from '…'`, `import '…'`, `import('…')`, `export … from '…'`. */
const SPECIFIER = /(\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)(['"])([^'"\n]+)\2/g;

function rewriteSpecifiers(file: string, map: [string, string][]): void {
  const source = readFileSync(file, 'utf8');
  const here = dirname(relative(DIST, file));
  const rewritten = source.replace(SPECIFIER, (whole, keyword: string, quote: string, specifier: string) => {
    let target: string | undefined;
    const alias = map.find(([prefix]) => specifier.startsWith(prefix));
    if (alias) {
      target = relative(here, `${alias[1]}${specifier.slice(alias[0].length)}.js`);
      if (!target.startsWith('.')) target = `./${target}`;
    } else if (specifier.startsWith('.') && specifier.endsWith('.ts')) {
      target = `${specifier.slice(0, -'.ts'.length)}.js`;
    }
    if (specifier.startsWith('#') && !alias)
      throw new Error(`${file}: no package.json import for ${specifier}`);
    return target ? `${keyword}${quote}${target}${quote}` : whole;
  });
  if (rewritten !== source) writeFileSync(file, rewritten);
}

function compiledFiles(): string[] {
  return readdirSync(DIST, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.(js|d\.ts)$/.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((file) => COMPILED.includes(relative(DIST, file).split('/')[0] ?? ''));
}

interface Manifest {
  name: string;
  exports: Record<string, string | { default?: string }>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

/** The compiled entry points: package.json `exports`, and the CLI that `bin/flux-edit.mjs` loads. */
function entryPoints(manifest: Manifest): string[] {
  const exported = Object.values(manifest.exports)
    .map((target) => (typeof target === 'string' ? undefined : target.default))
    .filter((target): target is string => target?.startsWith('./dist/') ?? false);
  return [...exported.map((target) => join(ROOT, target)), join(DIST, 'client/cli.js')];
}

/**
 * Follows the runtime imports of the compiled entry points (type-only imports are gone from the
 * JavaScript: `verbatimModuleSyntax`), deletes the JavaScript nothing loads (modules that only
 * lend types, such as the output copier's, keep their `.d.ts`), and checks that every package
 * the rest imports is a Node built-in, a dependency or a peer dependency.
 */
function pruneToRuntimeGraph(): { modules: number; packages: string[] } {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;
  const reached = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (reached.has(file)) return;
    reached.add(file);
    for (const [, , , specifier] of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
      if (!specifier) continue;
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier));
      else if (!specifier.startsWith('node:')) packages.add(packageName(specifier));
    }
  };
  for (const entry of entryPoints(manifest)) visit(entry);
  for (const file of compiledFiles()) if (file.endsWith('.js') && !reached.has(file)) rmSync(file);
  const declared = new Set([
    // Comments keep their examples, which import the package by name.
    manifest.name,
    ...Object.keys(manifest.dependencies ?? {}),
    ...Object.keys(manifest.peerDependencies ?? {}),
  ]);
  const undeclared = [...packages].filter((name) => !declared.has(name));
  if (undeclared.length > 0)
    throw new Error(`the compiled package imports ${undeclared.join(', ')}: not a dependency or peer`);
  return { modules: reached.size, packages: [...packages].sort() };
}

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}

const started = performance.now();
for (const entry of existsSync(DIST) ? readdirSync(DIST) : []) {
  if (entry !== ASSETS) rmSync(join(DIST, entry), { recursive: true, force: true });
}
execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
  cwd: ROOT,
  // tsc reports on stdout; keep it off npm's.
  stdio: ['ignore', 2, 'inherit'],
});
const map = aliases();
const files = compiledFiles();
for (const file of files) rewriteSpecifiers(file, map);
const runtime = pruneToRuntimeGraph();
const assets = buildLambdaAssets();
console.error(
  `dist/: ${runtime.modules} modules loaded at run time (packages: ${runtime.packages.join(', ')}), ` +
    `${Object.keys(assets.bundleBytes).length} Lambda bundles (${Math.round(performance.now() - started)} ms)`,
);
