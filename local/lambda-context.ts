import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { FUNCTIONS, type FunctionName } from '../contract/index.ts';
import { LocalRuntimeError } from './errors.ts';

/** A Lambda handler as the Node.js 24 runtime calls it: async, no callback. */
export type LambdaHandler = (event: never, context: Context) => unknown;

export interface InvocationTarget {
  functionName: FunctionName;
  handler: LambdaHandler;
  region: string;
  accountId: string;
  /** Prefix of the deployed function names, as in `flux-edit-local-poller`. */
  stackName: string;
}

/**
 * A `Context` shaped like the one Lambda passes: the deployed function's name, memory and
 * a remaining-time clock counting down from its configured timeout, so handlers that budget
 * their work against `getRemainingTimeInMillis()` behave as they would in AWS.
 */
export function createLambdaContext(target: Omit<InvocationTarget, 'handler'>): Context {
  const definition = FUNCTIONS[target.functionName];
  const functionName = `${target.stackName}-${target.functionName}`;
  const deadline = Date.now() + definition.timeoutSeconds * 1000;
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  const unsupported = () => {
    throw new Error('context.done/fail/succeed are not supported by the Node.js 24 runtime');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${target.region}:${target.accountId}:function:${functionName}`,
    memoryLimitInMB: String(definition.memoryMb),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${day}/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

/**
 * Calls a handler the way Lambda does, including the timeout: past `timeoutSeconds` the
 * invocation fails with HANDLER_TIMEOUT (as "Task timed out" does in AWS). Unlike Lambda, the
 * handler's promise cannot be frozen and keeps running in the background.
 */
export async function invokeHandler(target: InvocationTarget, event: unknown): Promise<unknown> {
  const context = createLambdaContext(target);
  const timeoutMs = FUNCTIONS[target.functionName].timeoutSeconds * 1000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new LocalRuntimeError(
            'HANDLER_TIMEOUT',
            `${context.functionName} ${context.awsRequestId} task timed out after ${timeoutMs / 1000} seconds`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([
      Promise.resolve().then(() => target.handler(event as never, context)),
      timedOut,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
