import { CFN_LINT, CHECKOV, ensurePythonTools, MOTO, SCHEMATHESIS } from '../local/python-venv.ts';

/**
 * Runs once before any test file: makes the project venvs with the Python tools the suites use
 * (moto for the AWS emulator, cfn-lint and checkov for the template, schemathesis for the API
 * fuzzer), so that parallel test files never race to install them.
 */
export default function setup(): void {
  ensurePythonTools([MOTO, CFN_LINT, CHECKOV, SCHEMATHESIS], (line) => console.log(`[setup] ${line}`));
}
