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

/**
 * The sparse index of active jobs by deadline the sweeper queries (`TABLE.activeIndex`): only
 * items carrying the partition attribute are in it, so it holds the active jobs alone. It
 * projects keys only: DynamoDB then writes the index only when a job enters or leaves it (its
 * keys change), not on every state update, so it costs almost nothing per job. The sweeper
 * reads each overdue job with a consistent GetItem anyway.
 */
export function activeJobsIndex(): GlobalSecondaryIndexProps {
  return {
    indexName: TABLE.activeIndex.name,
    partitionKey: { name: TABLE.activeIndex.partitionKey, type: AttributeType.STRING },
    sortKey: { name: TABLE.activeIndex.sortKey, type: AttributeType.STRING },
    projectionType: ProjectionType.KEYS_ONLY,
  };
}
