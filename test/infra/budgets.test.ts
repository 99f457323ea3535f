import { beforeAll, describe, expect, it } from 'vitest';
import {
  AWS_CALLS,
  awsCallWorstMs,
  FUNCTIONS,
  type FunctionName,
  LIST_PATH,
  LIST_TIME_BUDGET_MS,
  LONGEST_PATH,
  leaseMs,
  QUEUES,
  type QueueName,
  RUNCOMFY_TIMING,
  UNIT_OF_WORK,
  unitBudgetMs,
  visibilityTimeoutSeconds,
  worstCaseMs,
} from '../../contract/index.ts';
import { COLLECTION_STALL_MS, NOTIFY_LEASE_MS } from '../../functions/core/jobs/lifecycle.ts';
import { resourceOf, type Synthesized, synth } from './synth.ts';

/** "Well inside": the worst case leaves a tenth of the timeout to spare. */
const MARGIN = 0.9;

/**
 * Every budget fits its timeout: for each function, the worst case of its longest path — every
 * RunComfy call at its full retry budget, every AWS call timing out on every attempt — fits well
 * inside the timeout the construct deploys, and each queue's visibility timeout fits its
 * consumer's. So no path answers 500, or is redelivered, because a retry outlived its invocation.
 */
describe('Time budgets (over the construct’s settings)', () => {
  let synthesized: Synthesized;
  beforeAll(() => {
    synthesized = synth({}, { bundle: false });
  });

  const deployedTimeoutMs = (name: FunctionName) => {
    const { template, pipeline, logicalId } = synthesized;
    return resourceOf(template, logicalId(pipeline.functions[name])).Properties.Timeout * 1000;
  };

  it.each(Object.keys(FUNCTIONS) as FunctionName[])(
    'fits the %s function’s worst case inside its timeout',
    (name) => {
      const timeoutMs = deployedTimeoutMs(name);
      expect(timeoutMs).toBe(FUNCTIONS[name].timeoutSeconds * 1000);
      expect(worstCaseMs(name)).toBeLessThanOrEqual(MARGIN * timeoutMs);
    },
  );

  it('fits a `GET /edits` that used its whole time budget inside the jobs function’s timeout', () => {
    // The list stops starting rounds of reads at its budget; the round in flight then, and the
    // cursor key before it, are its worst case beyond it.
    expect(LIST_TIME_BUDGET_MS + worstCaseMs('jobs', LIST_PATH)).toBeLessThanOrEqual(
      MARGIN * deployedTimeoutMs('jobs'),
    );
  });

  it('gives every function that calls RunComfy a budget, and no other', () => {
    const callers = (Object.keys(LONGEST_PATH) as FunctionName[]).filter((name) =>
      [...LONGEST_PATH[name], ...(UNIT_OF_WORK[name]?.unit ?? [])].some((step) =>
        step.startsWith('runcomfy.'),
      ),
    );
    expect(Object.keys(RUNCOMFY_TIMING).sort()).toEqual(callers.sort());
  });

  it.each(Object.keys(UNIT_OF_WORK) as FunctionName[])(
    'leaves the %s function room for many units of its open-ended work',
    (name) => {
      // A step that stops taking work when one unit and its tail no longer fit must get more
      // than a few done per invocation, or it would only ever queue its rest.
      expect(unitBudgetMs(name) * 3).toBeLessThanOrEqual(MARGIN * deployedTimeoutMs(name));
    },
  );

  it('bounds every AWS call in attempts and time', () => {
    expect(AWS_CALLS.maxAttempts).toBeGreaterThanOrEqual(2);
    expect(awsCallWorstMs()).toBeLessThan(10_000);
  });

  it.each(Object.keys(QUEUES) as QueueName[])(
    'keeps the %s queue’s visibility timeout above its consumer’s',
    (queue) => {
      const { template, pipeline, logicalId } = synthesized;
      const visibility = resourceOf(template, logicalId(pipeline.queues[queue])).Properties.VisibilityTimeout;
      expect(visibility).toBe(visibilityTimeoutSeconds(queue));
      expect(visibility).toBeGreaterThanOrEqual(FUNCTIONS[QUEUES[queue].consumer].timeoutSeconds);
    },
  );

  it('holds the collection lease past the result function’s timeout, so two collectors never overlap', () => {
    expect(leaseMs('result')).toBeGreaterThan(deployedTimeoutMs('result'));
    // A stalled collection is handed over again only after a crashed attempt's message is back.
    expect(COLLECTION_STALL_MS).toBeGreaterThanOrEqual(visibilityTimeoutSeconds('result') * 1000);
  });

  it('holds the notification lease past every notifying function’s timeout', () => {
    for (const name of ['poller', 'result', 'sweeper', 'submit'] as const) {
      expect(NOTIFY_LEASE_MS).toBeGreaterThan(deployedTimeoutMs(name));
    }
  });
});
