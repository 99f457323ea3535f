import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { bounded } from './client-bounds.ts';

/** The clients every function calls on its common path. */

export function createDynamoDocumentClient(): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient(bounded()), {
    // A caller's map may have a key named `constructor` (metadata): the marshaller takes an object
    // whose `constructor` is not Object for a class instance and refuses it unless told to map it.
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
  });
}

export function createSqsClient(): SQSClient {
  return new SQSClient(bounded());
}
