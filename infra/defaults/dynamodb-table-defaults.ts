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
import { TABLE, TABLE_INDEXES } from '../../contract/table.ts';

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
 * The table's sparse indexes (`TABLE_INDEXES`): the sweeper's (only jobs with something left that
 * the sweeper may have to do carry its partition attribute, keyed by when it is due) and the list
 * indexes of `GET /edits`. All project keys only: DynamoDB writes an index only when a job's key
 * attributes for it change (created; a status change; a due time changing), not on every update,
 * and readers fetch the jobs themselves by key (consistently).
 */
export function tableIndexes(): GlobalSecondaryIndexProps[] {
  return TABLE_INDEXES.map((index) => ({
    indexName: index.name,
    partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
    sortKey: { name: index.sortKey, type: AttributeType.STRING },
    projectionType: ProjectionType.KEYS_ONLY,
  }));
}
