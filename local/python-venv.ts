import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');

/** The venv for moto and cfn-lint: it reuses the machine's site-packages where they are installed. */
export const VENV_DIR = join(ROOT, '.venv');
/**
 * A second venv for checkov: it pins an older botocore, which must not shadow the one moto
 * serves the AWS APIs with.
 */
export const TOOLS_VENV_DIR = join(ROOT, '.venv-tools');

/** A Python tool the project needs: the module that proves it is importable, what pip installs, and where. */
export interface PythonRequirement {
  module: string;
  pip: string;
  venv: string;
}

export const MOTO: PythonRequirement = { module: 'moto.server', pip: 'moto[server]>=5.1,<6', venv: VENV_DIR };
export const CFN_LINT: PythonRequirement = { module: 'cfnlint', pip: 'cfn-lint>=1.20', venv: VENV_DIR };
export const CHECKOV: PythonRequirement = { module: 'checkov', pip: 'checkov>=3.2', venv: TOOLS_VENV_DIR };

export const venvPython = join(VENV_DIR, 'bin', 'python');
/** Path of a console script in a venv (the main one unless told otherwise, e.g. `venvBin('checkov', CHECKOV.venv)`). */
export const venvBin = (name: string, venv: string = VENV_DIR) => join(venv, 'bin', name);
/** Path of the console script that a requirement installs, e.g. `toolBin(CHECKOV)`. */
export const toolBin = (
  requirement: PythonRequirement,
  name: string = requirement.module.split('.')[0] ?? '',
) => venvBin(name, requirement.venv);

function importable(python: string, module: string): boolean {
  return spawnSync(python, ['-c', `import ${module}`], { stdio: 'ignore' }).status === 0;
}

function withLock<T>(lock: string, work: () => T): T {
  const deadline = Date.now() + 900_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${lock}; remove it if no setup is running`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
    }
  }
  try {
    return work();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Makes the project-local venvs (with --system-site-packages, so tools the machine already has
 * are taken as they are) and pip-installs only what is missing. Serialised across processes
 * with a lock directory, since test workers may call it at once.
 */
export function ensurePythonTools(
  requirements: PythonRequirement[],
  log: (line: string) => void = () => {},
): void {
  const byVenv = new Map<string, PythonRequirement[]>();
  for (const requirement of requirements) {
    byVenv.set(requirement.venv, [...(byVenv.get(requirement.venv) ?? []), requirement]);
  }
  for (const [venv, wanted] of byVenv) {
    withLock(`${venv}.lock`, () => {
      const python = join(venv, 'bin', 'python');
      if (!existsSync(python)) {
        log(`creating Python venv in ${venv}`);
        execFileSync('python3', ['-m', 'venv', '--system-site-packages', venv], { stdio: 'inherit' });
      }
      const missing = wanted.filter((requirement) => !importable(python, requirement.module));
      if (missing.length === 0) return;
      const specs = missing.map((requirement) => requirement.pip);
      log(`installing ${specs.join(', ')} into ${venv}`);
      execFileSync(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...specs], {
        stdio: 'inherit',
      });
    });
  }
}
