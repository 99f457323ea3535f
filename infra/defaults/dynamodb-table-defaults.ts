import { RemovalPolicy } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  type GlobalSecondaryIndexProps,
  ProjectionType,
  TableEncryption,
  type TableProps,
} from 'aws-cdk-lib/aws-dynamodb';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { TABLE } from '../../contract/table.ts';

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

/**
 * The sparse index the sweeper queries (`TABLE.sweepIndex`): only jobs with something left that
 * the sweeper may have to do carry its partition attribute, keyed by when it is due. It projects
 * keys only: DynamoDB writes the index only when a job's due time changes (entering, a hand-over,
 * a finish, leaving once notified), not on every state update. The sweeper reads each due job
 * with a consistent GetItem anyway.
 */
export function sweepIndex(): GlobalSecondaryIndexProps {
  return {
    indexName: TABLE.sweepIndex.name,
    partitionKey: { name: TABLE.sweepIndex.partitionKey, type: AttributeType.STRING },
    sortKey: { name: TABLE.sweepIndex.sortKey, type: AttributeType.STRING },
    projectionType: ProjectionType.KEYS_ONLY,
  };
}
