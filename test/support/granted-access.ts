import { FUNCTIONS, type FunctionName, type QueueName, TABLE } from '../../contract/index.ts';
import { FUNCTION_ACCESS, type FunctionAccess } from '../../infra/defaults/function-access.ts';
import type { AwsRequest } from '../../local/aws-request-counter.ts';

/** The pipeline's resources as the local runtime named them, to read requests' targets against. */
export interface GrantedResources {
  table: string;
  bucket: string;
  outputPrefix: string;
  uploadPrefix: string;
  /** `bucket/prefix` entries: the objects a function that `readsInputs` may get. */
  inputS3Allowlist: readonly string[];
  queues: Partial<Record<QueueName, string>>;
  topicArn: string;
  eventBusName: string;
  /** Secret ids as the functions' settings name them (unset locally: the values are given directly). */
  secrets: { runComfyToken?: string; webhook?: string; listCursor?: string };
}

/** One IAM action a function needed, on what (an index, a queue, an object key). */
export interface Need {
  function: string;
  action: string;
  resource: string;
}

const INDEX_GROUPS: Record<string, FunctionAccess['queriesIndexes'][number]> = {
  [TABLE.sweepIndex.name]: 'sweep',
  [TABLE.waitingIndex.name]: 'waiting',
  ...Object.fromEntries(Object.values(TABLE.listIndexes).map((index) => [index.name, 'list'] as const)),
};

const S3_ACTIONS: Record<string, string> = {
  GetObject: 's3:GetObject',
  HeadObject: 's3:GetObject',
  PutObject: 's3:PutObject',
  CreateMultipartUpload: 's3:PutObject',
  UploadPart: 's3:PutObject',
  CompleteMultipartUpload: 's3:PutObject',
  AbortMultipartUpload: 's3:AbortMultipartUpload',
  DeleteObject: 's3:DeleteObject',
  DeleteObjects: 's3:DeleteObject',
};

/** The IAM actions (and their resources) a request needs: a transaction needs each of its items'. */
export function needsOf(request: AwsRequest, resources: GrantedResources): Need[] {
  const need = (action: string, resource: string): Need => ({ function: request.caller, action, resource });
  switch (request.service) {
    case 'dynamodb': {
      const table = request.table === resources.table ? 'table' : `table ${request.table ?? '?'}`;
      if (request.operation === 'Query' || request.operation === 'Scan') {
        const where = request.index ? `index ${request.index}` : table;
        return [need(`dynamodb:${request.operation}`, where)];
      }
      if (request.itemActions) return request.itemActions.map((action) => need(action, table));
      return [need(`dynamodb:${request.operation}`, table)];
    }
    case 'sqs': {
      const path = request.queueUrl ? new URL(request.queueUrl).pathname : '';
      const queue = Object.entries(resources.queues).find(([, url]) => url && new URL(url).pathname === path);
      const action =
        request.operation === 'SendMessageBatch' ? 'sqs:SendMessage' : `sqs:${request.operation}`;
      return [need(action, queue ? `queue ${queue[0]}` : `queue ${request.queueUrl ?? '?'}`)];
    }
    case 's3': {
      if (request.operation === 'ListObjectsV2')
        return [need('s3:ListBucket', `${request.bucket}/${request.keys?.[0] ?? ''}*`)];
      if (request.operation === 'CopyObject') {
        return [
          need('s3:GetObject', request.copySource ?? '?'),
          ...(request.keys ?? []).map((key) => need('s3:PutObject', `${request.bucket}/${key}`)),
        ];
      }
      const action = S3_ACTIONS[request.operation] ?? `s3:${request.operation}`;
      return (request.keys ?? ['']).map((key) => need(action, `${request.bucket}/${key}`));
    }
    default:
      return (request.targets ?? ['']).map((target) =>
        need(`${request.service}:${request.operation}`, target || '?'),
      );
  }
}

/** Whether the function's row of FUNCTION_ACCESS grants this need, as infra/function-resources.ts turns it into IAM. */
export function isGranted(need: Need, resources: GrantedResources): boolean {
  if (!(need.function in FUNCTIONS)) return false;
  const access = FUNCTION_ACCESS[need.function as FunctionName];
  const [service] = need.action.split(':');
  switch (service) {
    case 'dynamodb': {
      if (need.action === 'dynamodb:Query') {
        const group = INDEX_GROUPS[need.resource.replace(/^index /, '')];
        return (
          need.resource.startsWith('index ') && group !== undefined && access.queriesIndexes.includes(group)
        );
      }
      return need.resource === 'table' && (access.table as readonly string[]).includes(need.action);
    }
    case 'sqs':
      return (
        need.action === 'sqs:SendMessage' &&
        access.sendsTo.some((queue) => need.resource === `queue ${queue}`)
      );
    case 's3': {
      const [bucket, ...rest] = need.resource.split('/');
      const key = rest.join('/');
      if (need.action === 's3:ListBucket') {
        return (
          access.listsOutputs === true &&
          bucket === resources.bucket &&
          key.startsWith(resources.outputPrefix)
        );
      }
      const grants: [prefix: string, actions: readonly string[] | undefined][] = [
        [`${resources.bucket}/${resources.outputPrefix}`, access.outputs],
        [`${resources.bucket}/${resources.uploadPrefix}`, access.uploads],
        [`${resources.bucket}/${resources.outputPrefix}batches/`, access.batchFiles],
        ...resources.inputS3Allowlist.map(
          (prefix) =>
            [prefix, access.readsInputs ? ['s3:GetObject'] : undefined] as [string, string[] | undefined],
        ),
      ];
      return grants.some(
        ([prefix, actions]) => need.resource.startsWith(prefix) && (actions ?? []).includes(need.action),
      );
    }
    case 'sns':
      return (
        need.action === 'sns:Publish' && access.publishesNotifications && need.resource === resources.topicArn
      );
    case 'events':
      return (
        need.action === 'events:PutEvents' && access.putsEvents && need.resource === resources.eventBusName
      );
    case 'secretsmanager': {
      const { secrets } = resources;
      const readable = [
        access.readsRunComfyToken ? secrets.runComfyToken : undefined,
        access.readsWebhookSecret ? secrets.webhook : undefined,
        access.readsListCursorSecret ? secrets.listCursor : undefined,
      ];
      return (
        need.action === 'secretsmanager:GetSecretValue' && readable.some((id) => id && id === need.resource)
      );
    }
    default:
      return false;
  }
}

/**
 * `function  action  resource`, one a line, sorted and without repeats; object keys shortened to
 * their prefix (`bucket/edits/…`, `bucket/edits/batches/…`), as the grants name them.
 */
export function describeNeeds(needs: readonly Need[]): string[] {
  const shape = (need: Need) => {
    const group = INDEX_GROUPS[need.resource.replace(/^index /, '')];
    if (need.action === 'dynamodb:Query') return `${need.resource} (${group ?? 'no index group'})`;
    if (!need.action.startsWith('s3:')) return need.resource;
    const [bucket, first, second] = need.resource.split('/');
    if (first === undefined) return need.resource;
    return `${bucket}/${first}/${second === 'batches' ? 'batches/' : ''}…`;
  };
  return [...new Set(needs.map((need) => `${need.function}  ${need.action}  ${shape(need)}`))].sort();
}
