import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { LocalPipeline } from '../../local/pipeline.ts';

/**
 * An API Gateway request as the JWT authorizer passes it on (claims verified upstream): what the
 * deployed functions get, built by hand so tests can act as several callers.
 */
export function asCaller(
  routeKey: string,
  claims: Record<string, string>,
  options: {
    id?: string;
    body?: unknown;
    query?: Record<string, string>;
    headers?: Record<string, string>;
  } = {},
): APIGatewayProxyEventV2 {
  const [method, path] = routeKey.split(' ') as [string, string];
  const rawPath = options.id ? path.replace('{id}', options.id) : path;
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...options.headers },
    ...(options.id ? { pathParameters: { id: options.id } } : {}),
    ...(options.query ? { queryStringParameters: options.query } : {}),
    ...(options.body ? { body: JSON.stringify(options.body) } : {}),
    isBase64Encoded: false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'api',
      domainName: 'local',
      domainPrefix: 'local',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: `r-${Math.random()}`,
      routeKey,
      stage: '$default',
      time: '',
      timeEpoch: Date.now(),
      authorizer: { jwt: { claims: { iss: 'https://issuer.example', ...claims }, scopes: null } },
    } as APIGatewayProxyEventV2['requestContext'],
  } as APIGatewayProxyEventV2;
}

/** Invokes a function's handler with such a request; the answer with its body parsed. */
export async function invokeAs(
  pipeline: LocalPipeline,
  name: 'submit' | 'jobs',
  event: APIGatewayProxyEventV2,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const result = (await pipeline.invoke(name, event)) as APIGatewayProxyStructuredResultV2;
  return { status: result.statusCode ?? 200, body: result.body ? JSON.parse(String(result.body)) : {} };
}
