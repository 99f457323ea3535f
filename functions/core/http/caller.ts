import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { Caller } from '../jobs/owner.ts';

/** Who may act on every job: a JWT scope, or IAM principals (from the construct's props). */
export interface AdminPolicy {
  adminScope?: string;
  adminPrincipals: readonly string[];
}

interface AuthorizerContext {
  jwt?: { claims?: Record<string, unknown>; scopes?: string[] | null };
  iam?: { userArn?: string };
}

/**
 * The caller of an HTTP API request, from what API Gateway's authorizer verified and put in the
 * request context (never from the request itself): with JWT auth the issuer and subject, with IAM
 * the principal's ARN. Without an authorizer — only the local runtime with auth off: a deployed
 * API always has one — every caller is `local`, the laptop's one user, who sees every job (also
 * those its queue and bus integrations submitted).
 */
export function callerOf(event: APIGatewayProxyEventV2, policy: AdminPolicy): Caller {
  const authorizer = (event.requestContext as { authorizer?: AuthorizerContext }).authorizer;
  const claims = authorizer?.jwt?.claims;
  if (claims && typeof claims.sub === 'string') {
    const scopes = new Set([
      ...(authorizer?.jwt?.scopes ?? []),
      ...scopeList(claims.scope),
      ...scopeList(claims.scp),
    ]);
    return {
      owner: `jwt:${String(claims.iss ?? '')}|${claims.sub}`,
      admin: Boolean(policy.adminScope && scopes.has(policy.adminScope)),
    };
  }
  const arn = authorizer?.iam?.userArn;
  if (arn) return { owner: `iam:${arn}`, admin: policy.adminPrincipals.includes(arn) };
  return { owner: 'local', admin: true };
}

/** API Gateway passes a scope claim as a space-separated string, or a list as `[a b]`. */
function scopeList(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value !== 'string') return [];
  return value
    .replace(/^\[|\]$/g, '')
    .split(/[\s,]+/)
    .filter(Boolean);
}
