import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { UnauthorizedError } from '#core/errors';
import { type AdminPolicy, callerOf, isAdminPrincipal } from '#core/http/caller';
import { problemResponse } from '#core/http/problem';
import { silentLog } from '#core/log';

const POLICY: AdminPolicy = {
  adminScope: 'flux-edit/admin',
  adminPrincipals: [
    'arn:aws:iam::123456789012:role/ops/Operators',
    'arn:aws:iam::123456789012:user/root-ops',
  ],
};

/** An event with the authorizer context API Gateway would set (`undefined`: no authorizer). */
const eventWith = (authorizer: unknown) =>
  ({ requestContext: authorizer === undefined ? {} : { authorizer } }) as unknown as APIGatewayProxyEventV2;

describe('Function: callerOf', () => {
  it('makes a JWT caller of its issuer and subject, an admin by the admin scope in any claim form', () => {
    const claims = { iss: 'https://issuer.example', sub: 'alice' };

    expect(callerOf(eventWith({ jwt: { claims, scopes: null } }), POLICY)).toEqual({
      owner: 'jwt:https://issuer.example|alice',
      admin: false,
    });
    for (const scope of [{ scope: 'openid flux-edit/admin' }, { scp: '[read flux-edit/admin]' }]) {
      expect(
        callerOf(eventWith({ jwt: { claims: { ...claims, ...scope }, scopes: null } }), POLICY).admin,
      ).toBe(true);
    }
    expect(callerOf(eventWith({ jwt: { claims, scopes: ['flux-edit/admin'] } }), POLICY).admin).toBe(true);
    expect(
      callerOf(eventWith({ jwt: { claims: { ...claims, scope: 'admin' }, scopes: null } }), POLICY).admin,
    ).toBe(false);
  });

  it('refuses a verified token without a subject with 401, rather than inventing an owner', () => {
    const event = eventWith({
      jwt: { claims: { iss: 'https://issuer.example', client_id: 'app' }, scopes: null },
    });

    expect(() => callerOf(event, POLICY)).toThrow(UnauthorizedError);
    expect(() => callerOf(eventWith({ lambda: { user: 'x' } }), POLICY)).toThrow(UnauthorizedError);
  });

  it('makes an IAM caller of its principal; a listed role covers every session of it', () => {
    const session = 'arn:aws:sts::123456789012:assumed-role/Operators/alice@example.com';

    expect(callerOf(eventWith({ iam: { userArn: session } }), POLICY)).toEqual({
      owner: `iam:${session}`,
      admin: true,
    });
    expect(callerOf(eventWith({ iam: { userArn: 'arn:aws:iam::123456789012:user/bob' } }), POLICY)).toEqual({
      owner: 'iam:arn:aws:iam::123456789012:user/bob',
      admin: false,
    });
  });

  it('treats a request without any authorizer as the local runtime’s one user', () => {
    expect(callerOf(eventWith(undefined), POLICY)).toEqual({ owner: 'local', admin: true });
  });
});

describe('Function: isAdminPrincipal', () => {
  it('matches listed principals exactly, and role sessions by account and role name only', () => {
    const admins = POLICY.adminPrincipals;
    expect(isAdminPrincipal('arn:aws:iam::123456789012:user/root-ops', admins)).toBe(true);
    expect(isAdminPrincipal('arn:aws:sts::123456789012:assumed-role/Operators/s', admins)).toBe(true);
    expect(isAdminPrincipal('arn:aws:sts::999999999999:assumed-role/Operators/s', admins)).toBe(false);
    expect(isAdminPrincipal('arn:aws:sts::123456789012:assumed-role/Operators2/s', admins)).toBe(false);
    expect(isAdminPrincipal('arn:aws-cn:sts::123456789012:assumed-role/Operators/s', admins)).toBe(false);
    expect(isAdminPrincipal('arn:aws:iam::123456789012:user/root-ops2', admins)).toBe(false);
  });
});

describe('Function: problemResponse (401)', () => {
  it('answers problem+json UNAUTHORIZED with a Bearer challenge', () => {
    const refused = problemResponse(new UnauthorizedError('the token is not valid'), '/edits', silentLog);
    const missing = problemResponse(
      new UnauthorizedError('send a bearer token', { tokenSent: false }),
      '/edits',
      silentLog,
    );

    expect(refused.statusCode).toBe(401);
    expect(JSON.parse(String(refused.body))).toMatchObject({
      status: 401,
      title: 'Unauthorized',
      code: 'UNAUTHORIZED',
    });
    expect(refused.headers).toMatchObject({
      'content-type': 'application/problem+json',
      'www-authenticate': 'Bearer error="invalid_token"',
    });
    expect(missing.headers?.['www-authenticate']).toBe('Bearer');
  });
});
