import { describe, expect, it } from 'vitest';
import { ApiRecorder } from '../../soak/api-recorder.ts';
import {
  asSubmitted,
  BatchCompletions,
  batchJobs,
  checkBatchPhase,
  settleBatch,
  submitBatchOfEdits,
} from '../../soak/batch-phase.ts';
import { seeded } from '../../soak/plan.ts';
import { batchCompletionsOf } from '../support/batch-helpers.ts';
import { useLocalPipeline } from '../support/local-pipeline-fixture.ts';

const injected: Record<string, number> = {};

/**
 * The soak's batch phase against the local runtime under SQS's duplicate deliveries: a batch
 * submitted through the API, followed to completion, and every check of the phase holding; and
 * the checks catching a second completion.
 */
const fixture = useLocalPipeline({
  stackName: 'soak-batch-phase-test',
  env: { batchChunkLines: 4 },
  simulator: { knobs: { queue_delay_s: 0.1, run_delay_s: 0.2, workers: 8 } },
  chaos: { delivery: { duplicate: 0.3, skipDelete: 0, expireVisibility: 0 }, random: seeded(7), injected },
});

/** The observer's part: every completion received, handed to the phase. */
async function receiveCompletions(completions: BatchCompletions, batchId: string): Promise<void> {
  await batchCompletionsOf(fixture.notifications, batchId);
  for (const message of fixture.notifications.sns) completions.observe('sns', JSON.parse(message.Message));
  for (const event of fixture.notifications.events) completions.observe('events', event.detail);
}

describe('Soak: the batch phase', () => {
  it.each(['inline', 'manifest'] as const)(
    'submits a batch of edits (%s), follows it to completion, and finds every check holding',
    async (via) => {
      // Prepare
      const api = new ApiRecorder(fixture.pipeline.apiUrl);
      const completions = new BatchCompletions();

      // Act: ten edits (three chunks), line 4 fails at RunComfy
      const batch = await submitBatchOfEdits(api, {
        edits: 10,
        seed: 7,
        firstIndex: via === 'inline' ? 1_000 : 2_000,
        inputImage: 'https://playgrounds-storage-public.runcomfy.net/tools/7298/media-files/input-1-1.png',
        scripts: { 4: '__FAIL__' },
        via,
      });
      const view = await settleBatch(api, batch, 90_000);
      const jobs = await batchJobs(api, batch.id);
      await receiveCompletions(completions, batch.id);
      const results = await checkBatchPhase(batch, view, jobs, completions);

      // Assess
      expect(injected.duplicate ?? 0).toBeGreaterThan(0);
      expect(batch.via).toBe(via);
      expect(results.filter((result) => !result.ok)).toEqual([]);
      expect(results.map((result) => result.name)).toContain(
        'exactly one batch completion on sns (by event id)',
      );
      expect(view?.counts).toMatchObject({ succeeded: 9, failed: 1 });
      expect(asSubmitted(jobs).map((submitted) => submitted.plan.tag)).toContain(
        `soak-7-${batch.via === 'inline' ? 1_003 : 2_003}`,
      );
      expect(Object.values(api.statuses).reduce((sum, count) => sum + count, 0)).toBeGreaterThan(0);

      // Assess: a second completion (another event id) would be caught
      const first = completions.sns.find((delivery) => delivery.batchId === batch.id)!;
      completions.sns.push({ ...first, eventId: `${batch.id}:completed-again` });
      const twice = await checkBatchPhase(batch, view, jobs, completions);
      expect(twice.filter((result) => !result.ok).map((result) => result.name)).toEqual([
        'exactly one batch completion on sns (by event id)',
      ]);
    },
    150_000,
  );
});
