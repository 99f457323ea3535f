import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveApiUrl } from '../../../client/api-url.ts';
import { FluxEditConfigError } from '../../../client/errors.ts';

let root: string;
/** A repository root without a stack file, so the real one of this checkout never leaks in. */
let emptyRepo: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'flux-edit-url-'));
  emptyRepo = join(root, 'repo');
  await mkdir(emptyRepo);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function writeStack(dir: string, content: string) {
  await mkdir(join(dir, '.local'), { recursive: true });
  await writeFile(join(dir, '.local', 'stack.json'), content);
}

describe('Function: resolveApiUrl', () => {
  it('prefers --api-url, then FLUX_EDIT_API_URL, then the stack file', async () => {
    // Prepare
    await writeStack(root, JSON.stringify({ apiUrl: 'http://127.0.0.1:3000' }));
    const env = { FLUX_EDIT_API_URL: 'https://from-env.example.com' };

    // Act & Assess
    expect(resolveApiUrl({ flag: 'https://flag.example.com', env, cwd: root, repoRoot: emptyRepo })).toEqual({
      url: 'https://flag.example.com',
      source: 'flag',
    });
    expect(resolveApiUrl({ flag: undefined, env, cwd: root, repoRoot: emptyRepo })).toEqual({
      url: 'https://from-env.example.com',
      source: 'env',
    });
    expect(resolveApiUrl({ flag: undefined, env: {}, cwd: root, repoRoot: emptyRepo })).toEqual({
      url: 'http://127.0.0.1:3000',
      source: 'stack-file',
      file: join(root, '.local', 'stack.json'),
    });
  });

  it('finds the stack file of a parent directory', async () => {
    // Prepare
    await writeStack(root, JSON.stringify({ apiUrl: 'http://127.0.0.1:4000' }));
    const nested = join(root, 'a', 'b');
    await mkdir(nested, { recursive: true });

    // Act
    const resolved = resolveApiUrl({ flag: undefined, env: {}, cwd: nested, repoRoot: emptyRepo });

    // Assess
    expect(resolved.url).toBe('http://127.0.0.1:4000');
  });

  it('falls back to the stack file of the repository', async () => {
    await writeStack(emptyRepo, JSON.stringify({ apiUrl: 'http://127.0.0.1:5000' }));

    const resolved = resolveApiUrl({ flag: undefined, env: {}, cwd: root, repoRoot: emptyRepo });

    expect(resolved).toMatchObject({ url: 'http://127.0.0.1:5000', source: 'stack-file' });
  });

  it('says every way to set the URL when there is none', () => {
    const resolve = () => resolveApiUrl({ flag: undefined, env: {}, cwd: root, repoRoot: emptyRepo });

    expect(resolve).toThrow(FluxEditConfigError);
    expect(resolve).toThrow(/--api-url.*FLUX_EDIT_API_URL.*npm start/);
  });

  it('names a stack file without an apiUrl', async () => {
    await writeStack(root, JSON.stringify({ region: 'us-east-1' }));

    expect(() => resolveApiUrl({ flag: undefined, env: {}, cwd: root, repoRoot: emptyRepo })).toThrow(
      /stack\.json has no "apiUrl"/,
    );
  });
});
