import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SNSClient } from '@aws-sdk/client-sns';
import { bounded } from './client-bounds.ts';

export function createSnsClient(): SNSClient {
  return new SNSClient(bounded());
}

export function createEventBridgeClient(): EventBridgeClient {
  return new EventBridgeClient(bounded());
}
