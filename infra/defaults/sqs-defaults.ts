import type { IKey } from 'aws-cdk-lib/aws-kms';
import { QueueEncryption, type QueueProps } from 'aws-cdk-lib/aws-sqs';

/**
 * Every queue (work queues and their DLQs): encrypted at rest and reachable over TLS only.
 * SQS-managed SSE unless a customer key is given; with it, consumers and producers need the key too.
 */
export function queueDefaults(
  encryptionKey?: IKey,
): Pick<QueueProps, 'encryption' | 'encryptionMasterKey' | 'enforceSSL'> {
  return encryptionKey
    ? { encryption: QueueEncryption.KMS, encryptionMasterKey: encryptionKey, enforceSSL: true }
    : { encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true };
}
