import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { TopicProps } from 'aws-cdk-lib/aws-sns';

/** The AWS-managed SNS key: encryption at rest with no key to administer. */
export const SNS_MANAGED_KEY_ALIAS = 'alias/aws/sns';

/**
 * The completion topic: KMS-encrypted and TLS-only. With the AWS-managed key, AWS services
 * (CloudWatch alarms, EventBridge) cannot publish to it; only the pipeline's functions do.
 */
export function notificationTopicDefaults(masterKey: IKey): TopicProps {
  return { masterKey, enforceSSL: true };
}
