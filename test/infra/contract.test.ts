import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#contract/config';
import {
  ENV,
  FUNCTIONS,
  type FunctionName,
  QUEUES,
  type QueueName,
  ROUTES,
  SWEEPER,
  TABLE,
  visibilityTimeoutSeconds,
} from '../../contract/index.ts';
import { resourceOf, resourcesOfType, type Synthesized, synth } from './synth.ts';

/**
 * The local runtime builds its queues, table and routes from infra/definition.ts too
 * (local/resources.ts); these tests pin the deployed side to the same values, so the two
 * cannot drift apart.
 */
describe('Shared definition: stack and local runtime', () => {
  let synthesized: Synthesized;
  beforeAll(() => {
    synthesized = synth({}, { bundle: false });
  });

  it.each(Object.keys(QUEUES) as QueueName[])(
    'deploys the %s queue with the visibility timeout, redrive and retention of the definition',
    (queue) => {
      const { template, pipeline, logicalId } = synthesized;
      const definition = QUEUES[queue];
      const properties = resourceOf(template, logicalId(pipeline.queues[queue])).Properties;

      expect(properties.VisibilityTimeout).toBe(visibilityTimeoutSeconds(queue));
      expect(properties.VisibilityTimeout).toBeGreaterThanOrEqual(
        6 * FUNCTIONS[definition.consumer].timeoutSeconds,
      );
      expect(properties.RedrivePolicy.maxReceiveCount).toBe(definition.maxReceiveCount);
      expect(properties.MessageRetentionPeriod).toBe(definition.retentionDays * 86_400);
      expect(
        resourceOf(template, logicalId(pipeline.deadLetterQueues[queue])).Properties.MessageRetentionPeriod,
      ).toBe(definition.dlqRetentionDays * 86_400);
    },
  );

  it.each(Object.keys(FUNCTIONS) as FunctionName[])(
    'sizes the %s function as the definition does',
    (name) => {
      const { template, pipeline, logicalId } = synthesized;
      expect(resourceOf(template, logicalId(pipeline.functions[name])).Properties).toMatchObject({
        MemorySize: FUNCTIONS[name].memoryMb,
        Timeout: FUNCTIONS[name].timeoutSeconds,
        Description: FUNCTIONS[name].description,
      });
    },
  );

  it('serves exactly the definition’s routes', () => {
    const routeKeys = resourcesOfType(synthesized.template, 'AWS::ApiGatewayV2::Route').map(
      ([, route]) => route.Properties.RouteKey,
    );
    expect(routeKeys.sort()).toEqual(ROUTES.map((route) => `${route.method} ${route.path}`).sort());
  });

  it('keys the table and expires its items as the definition does', () => {
    synthesized.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: TABLE.partitionKey, KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: TABLE.ttlAttribute, Enabled: true },
    });
  });

  it('runs the sweeper at the definition’s interval', () => {
    const { template, pipeline, logicalId } = synthesized;
    // Widened from the literal: the expression's unit is singular for one minute.
    const minutes: number = SWEEPER.scheduleMinutes;
    expect(resourceOf(template, logicalId(pipeline.sweeperSchedule)).Properties.ScheduleExpression).toBe(
      `rate(${minutes} ${minutes === 1 ? 'minute' : 'minutes'})`,
    );
  });

  it.each(Object.keys(FUNCTIONS) as FunctionName[])(
    'sets an environment the %s function’s config loader accepts, with the construct’s defaults',
    (name) => {
      // Prepare: deploy-time references become placeholder strings, as Lambda would see values.
      const { template, pipeline, logicalId } = synthesized;
      const variables: Record<string, unknown> = resourceOf(template, logicalId(pipeline.functions[name]))
        .Properties.Environment.Variables;
      const environment = Object.fromEntries(
        Object.entries(variables).map(([key, value]) => [
          key,
          typeof value === 'string' ? value : `resolved-${key}`,
        ]),
      );

      // Act
      const config = loadConfig(environment);

      // Assess
      expect(config).toMatchObject({
        outputPrefix: 'edits/',
        uploadPrefix: 'uploads/',
        runComfyBaseUrl: 'https://model-api.runcomfy.net',
        runComfyTokenSecretArn: `resolved-${ENV.runComfyTokenSecretArn}`,
        jobDeadlineSeconds: 900,
        maxPollDelaySeconds: 30,
        outputHostAllowlist: ['*.runcomfy.net'],
        outputMaxBytes: 50 * 1024 * 1024,
        allowLoopbackHttp: false,
        jobRetentionDays: 30,
      });
      expect(config.runComfyApiToken).toBeUndefined();
      // Every variable the construct sets is one the functions read (or a Powertools/Node one).
      const known = new Set<string>([
        ...Object.values(ENV),
        'POWERTOOLS_SERVICE_NAME',
        'POWERTOOLS_METRICS_NAMESPACE',
        'POWERTOOLS_LOG_LEVEL',
        'NODE_OPTIONS',
      ]);
      expect(Object.keys(variables).filter((key) => !known.has(key))).toEqual([]);
    },
  );
});
