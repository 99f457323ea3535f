import { CFN_LINT, CHECKOV, ensurePythonTools, MOTO } from '../local/python-venv.ts';

/**
 * Runs once before any test file: makes the project venv with the Python tools the suites use
 * (moto for the AWS emulator, cfn-lint and checkov for the template), so that parallel test
 * files never race to install them.
 */
export default function setup(): void {
  ensurePythonTools([MOTO, CFN_LINT, CHECKOV], (line) => console.log(`[setup] ${line}`));
}
