/**
 * What the Lambda code and the CDK construct agree on, and nothing else: resource definitions,
 * settings (environment names, parsing, defaults), table keys, event names, the metric catalogue
 * and the time budgets. Neither `aws-cdk-lib` nor the AWS SDK is imported here, so `functions/`
 * and `infra/` both depend on this module and never on each other.
 */
export * from './budgets.ts';
export * from './config.ts';
export * from './events.ts';
export * from './metrics.ts';
export * from './resources.ts';
export * from './table.ts';
