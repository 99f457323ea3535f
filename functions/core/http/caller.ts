import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { UnauthorizedError } from '../errors.ts';
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
 * the principal's ARN. Any route may call it; it throws `UnauthorizedError` (401) for an
 * authorizer context that names nobody, rather than guessing an owner. Without an authorizer —
 * only the local runtime with auth off: a deployed API always has one — every caller is `local`,
 * the laptop's one user, who sees every job (also those its queue and bus integrations submitted).
 */
export function callerOf(event: APIGatewayProxyEventV2, policy: AdminPolicy): Caller {
  const authorizer = (event.requestContext as { authorizer?: AuthorizerContext }).authorizer;
  if (authorizer === undefined || authorizer === null) return { owner: 'local', admin: true };
  if (authorizer.jwt) {
    const claims = authorizer.jwt.claims ?? {};
    // A valid token without a subject (API Gateway does not require one) would make every such
    // token one shared owner: refused instead.
    if (typeof claims.sub !== 'string' || claims.sub === '') {
      throw new UnauthorizedError('the token names no subject (sub claim)');
    }
    const scopes = new Set([
      ...(authorizer.jwt.scopes ?? []),
      ...scopeList(claims.scope),
      ...scopeList(claims.scp),
    ]);
    return {
      owner: `jwt:${String(claims.iss ?? '')}|${claims.sub}`,
      admin: Boolean(policy.adminScope && scopes.has(policy.adminScope)),
    };
  }
  const arn = authorizer.iam?.userArn;
  if (arn) return { owner: `iam:${arn}`, admin: isAdminPrincipal(arn, policy.adminPrincipals) };
  throw new UnauthorizedError('the request was authorized, but names no caller');
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

const ASSUMED_ROLE = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/;
const ROLE = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/;

/**
 * Whether an IAM caller is one of the admin principals. API Gateway names a role's caller by its
 * session (`arn:aws:sts::<account>:assumed-role/<role>/<session>`, without the role's path), so a
 * listed role (`arn:aws:iam::<account>:role/<path/><role>`) covers every session of it; role
 * names are unique in an account whatever their path.
 */
export function isAdminPrincipal(arn: string, admins: readonly string[]): boolean {
  if (admins.includes(arn)) return true;
  const session = ASSUMED_ROLE.exec(arn);
  if (!session) return false;
  return admins.some((admin) => {
    const role = ROLE.exec(admin);
    return role !== null && role[1] === session[1] && role[2] === session[2] && role[3] === session[3];
  });
}
