import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, TableEncryption, type TableProps } from 'aws-cdk-lib/aws-dynamodb';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { TABLE } from '../definition.ts';

/**
 * The jobs table: the key layout from the definition, on-demand, point-in-time recovery, TTL on
 * the definition's attribute, KMS encryption (AWS-managed unless a customer key is given), and
 * deletion protection whenever the table is meant to survive its stack.
 */
export function jobsTableDefaults(removalPolicy: RemovalPolicy, encryptionKey?: IKey): TableProps {
  return {
    partitionKey: { name: TABLE.partitionKey, type: AttributeType.STRING },
    billingMode: BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    timeToLiveAttribute: TABLE.ttlAttribute,
    ...(encryptionKey
      ? { encryption: TableEncryption.CUSTOMER_MANAGED, encryptionKey }
      : { encryption: TableEncryption.AWS_MANAGED }),
    removalPolicy,
    deletionProtection: removalPolicy !== RemovalPolicy.DESTROY,
  };
}
