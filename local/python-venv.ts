import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** A Python tool the project needs: the module that proves it is importable, and what pip installs. */
export interface PythonRequirement {
  module: string;
  pip: string;
}

export const MOTO: PythonRequirement = { module: 'moto.server', pip: 'moto[server]>=5.1,<6' };
export const CFN_LINT: PythonRequirement = { module: 'cfnlint', pip: 'cfn-lint>=1.20' };
export const CHECKOV: PythonRequirement = { module: 'checkov', pip: 'checkov>=3.2' };

export const VENV_DIR = resolve(import.meta.dirname, '..', '.venv');

const binDir = join(VENV_DIR, 'bin');
export const venvPython = join(binDir, 'python');
export const venvBin = (name: string) => join(binDir, name);

function importable(module: string): boolean {
  return spawnSync(venvPython, ['-c', `import ${module}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Makes the project-local venv (reusing the machine's site-packages, so preinstalled moto,
 * cfn-lint and checkov are taken as they are) and pip-installs only what is missing.
 * Serialised across processes with a lock directory, since test workers may call it at once.
 */
export function ensurePythonTools(requirements: PythonRequirement[], log: (line: string) => void = () => {}): void {
  const lock = `${VENV_DIR}.lock`;
  const deadline = Date.now() + 600_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}; remove it if no setup is running`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
    }
  }
  try {
    if (!existsSync(venvPython)) {
      log(`creating Python venv in ${VENV_DIR}`);
      execFileSync('python3', ['-m', 'venv', '--system-site-packages', VENV_DIR], { stdio: 'inherit' });
    }
    const missing = requirements.filter((requirement) => !importable(requirement.module));
    if (missing.length > 0) {
      const specs = missing.map((requirement) => requirement.pip);
      log(`installing ${specs.join(', ')} into ${VENV_DIR}`);
      execFileSync(venvPython, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...specs], {
        stdio: 'inherit',
      });
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
