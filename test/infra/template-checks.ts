import { spawn } from 'node:child_process';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { expect } from 'vitest';
import { CFN_LINT, CHECKOV, toolBin, venvPython } from '../../local/python-venv.ts';

/**
 * The checks a synthesized template must pass, shared by the project's own stack
 * (compliance.test.ts) and a consumer's app built on the packed package (test/package):
 * cdk-nag's AWS Solutions and Serverless packs, cfn-lint and checkov.
 */

/** Every finding the packs report that the construct has not acknowledged, as `rule at path` lines. */
export function nagFindings(scope: IConstruct): string[] {
  return [new AwsSolutionsChecks(), new ServerlessChecks()].flatMap((pack) =>
    pack
      .validateScope(scope)
      .violations.flatMap((violation) =>
        violation.violatingResources.map((resource) => `${violation.ruleName} at ${resource.constructPath}`),
      ),
  );
}

export interface ToolRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a tool without blocking the event loop, so the two scanners can run side by side. */
function run(command: string, args: string[]): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * cfn-lint over a template file (from the project venv). W3005 (a DependsOn that a GetAtt
 * already implies) is ignored: CDK makes each function depend on its role's policy and role
 * explicitly so the policy exists before the first invocation.
 */
export function cfnLint(template: string): Promise<ToolRun> {
  return run(venvPython, [
    '-c',
    'import sys; from cfnlint.runner import main; sys.argv[0] = "cfn-lint"; sys.exit(main())',
    '--ignore-checks',
    'W3005',
    '--',
    template,
  ]);
}

export interface CheckovReport {
  results: {
    failed_checks: { check_id: string; resource: string }[];
    skipped_checks: { check_id: string; check_result: { suppress_comment?: string } }[];
  };
  summary: { failed: number; passed: number; skipped: number; parsing_errors: number };
}

/** checkov's CloudFormation checks over a template file (from the tools venv), as its JSON report. */
export async function checkov(template: string): Promise<CheckovReport> {
  const scan = await run(toolBin(CHECKOV), [
    '--file',
    template,
    '--framework',
    'cloudformation',
    '--output',
    'json',
    '--skip-download',
    '--skip-results-upload',
  ]);
  try {
    return JSON.parse(scan.stdout) as CheckovReport;
  } catch {
    throw new Error(`checkov gave no JSON report (${scan.status}):\n${scan.stderr}\n${scan.stdout}`);
  }
}

export const TEMPLATE_TOOLS = [CFN_LINT, CHECKOV];

/** cfn-lint found nothing. */
export function expectLintClean(lint: ToolRun): void {
  expect(lint.stdout + lint.stderr).toBe('');
  expect(lint.status).toBe(0);
}

/** checkov failed nothing, parsed everything, and every skip carries its reason. */
export function expectCheckovClean(report: CheckovReport): void {
  expect(report.results.failed_checks.map((check) => `${check.check_id} ${check.resource}`)).toEqual([]);
  expect(report.summary).toMatchObject({ failed: 0, parsing_errors: 0 });
  expect(report.summary.passed).toBeGreaterThan(50);
  for (const skipped of report.results.skipped_checks) {
    expect(skipped.check_result.suppress_comment?.length ?? 0, skipped.check_id).toBeGreaterThan(40);
  }
}
