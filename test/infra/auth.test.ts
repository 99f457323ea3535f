import { describe, expect, it } from 'vitest';
import { ENV, FUNCTIONS, type FunctionName, ROUTES } from '../../contract/index.ts';
import { resourceOf, resourcesOfType, synth } from './synth.ts';

/*
 * What the functions' ownership rules rely on from the deployed API: every route behind the
 * authorizer (so the caller in the request context was verified, never taken from the request),
 * the claims handed over where `callerOf` reads them (payload format 2.0:
 * `requestContext.authorizer.jwt.claims`), and the admin settings in the functions that scope.
 */

/** The functions behind routes: the ones that decide who the caller is. */
const ROUTE_FUNCTIONS = [...new Set(ROUTES.map((route) => route.function))] as FunctionName[];

function routesAndIntegrations(template: ReturnType<typeof synth>['template']) {
  return resourcesOfType(template, 'AWS::ApiGatewayV2::Route').map(([, route]) => ({
    route: route.Properties,
    integration: resourceOf(template, route.Properties.Target['Fn::Join'][1][1].Ref as string).Properties,
  }));
}

describe('Class: FluxEditPipeline (caller identity)', () => {
  it('verifies JWTs of the issuer and audiences on every route, hands the claims over, and tells the functions the admin scope', () => {
    // Act
    const { template, pipeline, logicalId } = synth(
      {
        pipeline: {
          apiAuthorization: {
            type: 'jwt',
            issuer: 'https://auth.example.com/',
            audience: ['image-edits', 'image-edits-batch'],
            adminScope: 'flux-edit/admin',
          },
        },
      },
      { bundle: false },
    );

    // Assess: one JWT authorizer, reading the Authorization header
    const authorizers = resourcesOfType(template, 'AWS::ApiGatewayV2::Authorizer');
    expect(authorizers).toHaveLength(1);
    const [authorizerId, authorizer] = authorizers[0]!;
    expect(authorizer.Properties).toEqual(
      expect.objectContaining({
        AuthorizerType: 'JWT',
        IdentitySource: ['$request.header.Authorization'],
        JwtConfiguration: {
          Issuer: 'https://auth.example.com/',
          Audience: ['image-edits', 'image-edits-batch'],
        },
      }),
    );
    // Every route uses it, without route scopes: every valid token reaches the function, which
    // scopes by owner (route scopes would refuse the callers that are not admins).
    const routes = routesAndIntegrations(template);
    expect(routes).toHaveLength(ROUTES.length);
    for (const { route, integration } of routes) {
      expect(route).toMatchObject({ AuthorizationType: 'JWT', AuthorizerId: { Ref: authorizerId } });
      expect(route.AuthorizationScopes).toBeUndefined();
      expect(integration).toMatchObject({ IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' });
    }
    for (const name of ROUTE_FUNCTIONS) {
      const variables = resourceOf(template, logicalId(pipeline.functions[name])).Properties.Environment
        .Variables;
      expect(variables[ENV.adminScope], name).toBe('flux-edit/admin');
      // No admin principals with JWT auth (an empty list, as the loader reads it).
      expect(variables[ENV.adminPrincipals] ?? '').toBe('');
    }
  });

  it('signs every route with IAM and tells the functions the admin principals', () => {
    // Act
    const admins = [
      'arn:aws:iam::123456789012:role/ops/Operators',
      'arn:aws:sts::123456789012:assumed-role/Support/alice',
    ];
    const { template, pipeline, logicalId } = synth(
      { pipeline: { apiAuthorization: { type: 'iam', adminPrincipals: admins } } },
      { bundle: false },
    );

    // Assess
    expect(resourcesOfType(template, 'AWS::ApiGatewayV2::Authorizer')).toHaveLength(0);
    for (const { route, integration } of routesAndIntegrations(template)) {
      expect(route.AuthorizationType).toBe('AWS_IAM');
      expect(integration.PayloadFormatVersion).toBe('2.0');
    }
    for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
      const variables = resourceOf(template, logicalId(pipeline.functions[name])).Properties.Environment
        .Variables;
      if (ROUTE_FUNCTIONS.includes(name)) expect(variables[ENV.adminPrincipals], name).toBe(admins.join(','));
      expect(variables).not.toHaveProperty(ENV.adminScope);
    }
  });
});
