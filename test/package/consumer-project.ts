import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, delimiter, dirname, join, sep } from 'node:path';

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  link?: boolean;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  inBundle?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [field: string]: unknown;
}

interface Lockfile {
  name: string;
  version: string;
  lockfileVersion: number;
  requires: boolean;
  packages: Record<string, LockEntry>;
}

/**
 * The lockfile of a consumer project that depends on `packages` (from this repository's lock)
 * and on a packed tarball, laid out as this repository's lock lays them out. With it, `npm ci
 * --offline` installs from the npm cache alone: a lockfile names exact versions and integrities,
 * so npm needs no registry metadata, which `npm ci` here never cached.
 */
export function consumerLockfile(options: {
  repoLock: string;
  /** Packages the consumer itself depends on, taken at this repository's versions. */
  packages: string[];
  tarball: string;
}): { lock: Lockfile; dependencies: Record<string, string> } {
  const repo = JSON.parse(readFileSync(options.repoLock, 'utf8')) as Lockfile;
  const tarball = readFileSync(options.tarball);
  const manifest = tarballManifest(options.tarball);
  const selected = new Map<string, LockEntry>();

  // Node's resolution over the lock's layout: `from/node_modules/name`, then each parent's.
  const locate = (from: string, name: string): string | undefined => {
    for (let dir = from; ; dir = parentOf(dir)) {
      const candidate = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`;
      if (repo.packages[candidate]) return candidate;
      if (!dir) return undefined;
    }
  };
  const add = (location: string) => {
    if (selected.has(location)) return;
    const entry = repo.packages[location];
    if (!entry) throw new Error(`${location} is not in ${options.repoLock}`);
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...kept } = entry;
    selected.set(location, kept);
    const optionalPeers = new Set(
      Object.entries(entry.peerDependenciesMeta ?? {})
        .filter(([, meta]) => meta.optional)
        .map(([name]) => name),
    );
    const wanted = [
      ...Object.keys(entry.dependencies ?? {}).map((name) => [name, true] as const),
      ...Object.keys(entry.optionalDependencies ?? {}).map((name) => [name, false] as const),
      ...Object.keys(entry.peerDependencies ?? {})
        .filter((name) => !optionalPeers.has(name))
        .map((name) => [name, true] as const),
    ];
    for (const [name, required] of wanted) {
      const found = locate(location, name);
      if (found) add(found);
      else if (required) throw new Error(`no ${name} for ${location} in ${options.repoLock}`);
    }
  };

  const dependencies: Record<string, string> = {};
  for (const name of options.packages) {
    const location = `node_modules/${name}`;
    add(location);
    dependencies[name] = repo.packages[location]!.version!;
  }
  const spec = `file:${basename(options.tarball)}`;
  dependencies[manifest.name] = spec;
  for (const name of Object.keys(manifest.dependencies ?? {})) add(`node_modules/${name}`);

  const {
    name,
    version,
    license,
    dependencies: deps,
    peerDependencies,
    peerDependenciesMeta,
    bin,
    engines,
  } = manifest;
  const packages: Record<string, LockEntry> = {
    '': { name: 'consumer', dependencies },
    [`node_modules/${name}`]: {
      version,
      resolved: spec,
      integrity: `sha512-${createHash('sha512').update(tarball).digest('base64')}`,
      license,
      dependencies: deps,
      peerDependencies,
      peerDependenciesMeta,
      bin,
      engines,
    },
  };
  for (const location of [...selected.keys()].sort()) packages[location] = selected.get(location)!;
  return {
    lock: { name: 'consumer', version: '0.0.0', lockfileVersion: 3, requires: true, packages },
    dependencies,
  };
}

function parentOf(location: string): string {
  const index = location.lastIndexOf('/node_modules/');
  return index === -1 ? '' : location.slice(0, index);
}

/** The package.json inside an `npm pack` tarball. */
function tarballManifest(tarball: string): LockEntry & { name: string; version: string } {
  return JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
}

export function writeConsumerProject(
  directory: string,
  lock: Lockfile,
  dependencies: Record<string, string>,
) {
  writeFileSync(
    join(directory, 'package.json'),
    `${JSON.stringify({ name: 'consumer', version: '0.0.0', private: true, type: 'module', dependencies }, null, 2)}\n`,
  );
  writeFileSync(join(directory, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
}

export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command without blocking the event loop (the test serves HTTP to some of them), and
 * fails with its output unless it exits 0 (`check: false` returns the result either way).
 */
export function runCommand(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; check?: boolean },
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (status) => {
      if (status !== 0 && options.check !== false) {
        reject(new Error(`${command} ${args.join(' ')} exited ${status}:\n${stderr}\n${stdout}`));
      } else {
        resolve({ status, stdout, stderr });
      }
    });
  });
}

/**
 * The environment for npm and a consumer's commands. The npm settings of an enclosing `npm test`
 * go (its `npm_config_local_prefix` would point a nested npm at this repository), except the
 * cache the install reads. With `consumer`, this repository's `node_modules/.bin` (tsx, esbuild,
 * tsc, its Node) is off the PATH too, so nothing the consumer runs can lean on this repository.
 */
export function commandEnvironment(options: { consumer: boolean }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    const npmSetting = name.toLowerCase().startsWith('npm_') && name.toLowerCase() !== 'npm_config_cache';
    if (npmSetting || name === 'INIT_CWD' || name === 'NODE_OPTIONS') delete env[name];
  }
  if (options.consumer) {
    const path = (process.env.PATH ?? '')
      .split(delimiter)
      .filter((entry) => entry && !entry.split(sep).includes('node_modules'));
    // A machine whose only Node is this repository's still runs the consumer, on that Node.
    if (!path.some((entry) => existsSync(join(entry, 'node')))) path.push(dirname(process.execPath));
    env.PATH = path.join(delimiter);
  }
  return env;
}
