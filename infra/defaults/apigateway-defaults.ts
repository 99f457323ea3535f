import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';

/** Stage-wide throttling: a guard for RunComfy spend and the table, not a capacity plan. */
export const DEFAULT_API_THROTTLE = { rateLimit: 50, burstLimit: 100 } as const;

/**
 * One JSON object per request (CloudWatch Logs Insights parses it as is). Carries what an
 * operator needs to follow a request: the request id the functions log, the route, the status,
 * and why the integration or the authorizer failed.
 */
export function apiAccessLogFormat(): AccessLogFormat {
  return AccessLogFormat.custom(
    JSON.stringify({
      requestId: '$context.requestId',
      requestTime: '$context.requestTime',
      routeKey: '$context.routeKey',
      status: '$context.status',
      protocol: '$context.protocol',
      responseLength: '$context.responseLength',
      responseLatency: '$context.responseLatency',
      integrationStatus: '$context.integrationStatus',
      integrationLatency: '$context.integrationLatency',
      integrationError: '$context.integrationErrorMessage',
      errorMessage: '$context.error.message',
      authorizerError: '$context.authorizer.error',
      sourceIp: '$context.identity.sourceIp',
      userAgent: '$context.identity.userAgent',
      caller: '$context.identity.userArn',
    }),
  );
}
