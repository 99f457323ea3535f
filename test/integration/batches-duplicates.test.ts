import { describe, expect, it } from 'vitest';
import type { BatchView } from '#core/batches/batch-view';
import type { JobView } from '#core/jobs/job-view';
import {
  batchCompletionsOf,
  callApi,
  editLine,
  queueDepth,
  readResults,
  waitForBatch,
} from '../support/batch-helpers.ts';
import { useLocalPipeline } from '../support/local-pipeline-fixture.ts';
import { waitUntil } from '../support/pipeline-helpers.ts';

/** A seeded generator: the same faults on every run. */
function mulberry32(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const injected: Record<string, number> = {};

/**
 * Batches under SQS's own faults, played on every queue (the batch queue's validation, chunks,
 * cancel and completion messages among them): messages delivered twice at once, not deleted
 * after success (so delivered again), and visible again while their handler still runs. Every
 * step must be idempotent: each line one job, each job counted once, one completion.
 */
const fixture = useLocalPipeline({
  stackName: 'batches-duplicates-test',
  env: { batchChunkLines: 3 },
  simulator: { knobs: { queue_delay_s: 0.1, run_delay_s: 0.2, workers: 8 } },
  chaos: {
    delivery: { duplicate: 0.4, skipDelete: 0.25, expireVisibility: 0.25 },
    random: mulberry32(20261204),
    injected,
  },
});

describe('Batches under duplicate deliveries', () => {
  it('make each line one job, count each job once, and complete each batch exactly once', async () => {
    // Act: three batches of seven lines (three chunks each); one with a failing line, one cancelled
    const submitted = await Promise.all(
      [0, 1, 2].map((batch) =>
        callApi<BatchView>(fixture.pipeline, 'POST', '/batches', {
          requests: Array.from({ length: 7 }, (_, index) =>
            editLine(index + 1, {
              prompt: batch === 1 && index === 3 ? 'fails __FAIL__' : `batch ${batch} line ${index + 1}`,
            }),
          ),
        }),
      ),
    );
    const cancelled = submitted[2]!.body.id;
    await callApi(fixture.pipeline, 'POST', `/batches/${cancelled}/cancel`);
    const batches = await Promise.all(
      submitted.map(({ body }) => waitForBatch(fixture.pipeline, body.id, undefined, { timeoutMs: 90_000 })),
    );
    // Let every duplicate and redelivery of the batch queue (which alone sends a batch's
    // completion) play out before counting what was sent. A duplicate result message that met a
    // live collection lease looks again when that lease ends (minutes away): it then drops, so
    // the other queues are given a while, not waited out.
    await waitUntil(
      async () => ((await queueDepth(fixture.pipeline, 'batch')) === 0 ? true : undefined),
      60_000,
    );
    await fixture.pipeline.drain({ timeoutMs: 15_000 }).catch(() => undefined);
    for (const batch of batches) await batchCompletionsOf(fixture.notifications, batch.id);

    // Assess: the faults happened, and no batch step gave up
    expect(await queueDepth(fixture.pipeline, 'batchDlq')).toBe(0);
    expect(injected.duplicate ?? 0).toBeGreaterThan(0);
    expect(injected.skipDelete ?? 0).toBeGreaterThan(0);
    expect(injected.expireVisibility ?? 0).toBeGreaterThan(0);

    for (const batch of batches) {
      // Each line one job, each counted once
      const { body } = await callApi<{ items: JobView[] }>(
        fixture.pipeline,
        'GET',
        `/edits?batch_id=${batch.id}&limit=1000`,
      );
      expect(body.items.map((job) => job.batch_line).sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
      const ended = Object.entries(batch.counts)
        .filter(([status]) => ['succeeded', 'failed', 'cancelled', 'expired'].includes(status))
        .reduce((sum, [, count]) => sum + count, 0);
      expect(batch).toMatchObject({ status: 'completed', jobs_created: 7 });
      expect(ended).toBe(7);
      expect(await readResults(fixture.pipeline, batch)).toHaveLength(7);

      // Exactly one completion, on EventBridge and on SNS
      const events = fixture.notifications.events.filter(
        (event) =>
          event['detail-type'] === 'Edit Batch Completed' &&
          (event.detail as unknown as { batch_id: string }).batch_id === batch.id,
      );
      const sns = fixture.notifications.sns.filter(
        (message) => (JSON.parse(message.Message) as { batch_id?: string }).batch_id === batch.id,
      );
      expect(events).toHaveLength(1);
      expect(sns).toHaveLength(1);
    }
    expect(batches[0]?.counts.succeeded).toBe(7);
    expect(batches[1]?.counts).toMatchObject({ succeeded: 6, failed: 1 });
    expect(batches[2]?.counts.cancelled).toBeGreaterThan(0);
  }, 180_000);
});
