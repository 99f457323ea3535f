import { loadConfig } from '#contract/config';
import type { Job } from '#core/jobs/job';
import { PNG_INPUT } from './pipeline-helpers.ts';

/**
 * A job RunComfy accepted, recorded as its poll chain would have left it before the chain
 * stopped: active, past its deadline and due for the sweeper, with no poll message left.
 */
export async function strandedJob(prompt: string, extra: Partial<Job> = {}) {
  const { createJobDeps } = await import('#shared/job-deps');
  const { RunComfyClient } = await import('#core/runcomfy/client');
  const deps = createJobDeps(loadConfig(), 'poller', { runComfyClient: RunComfyClient });
  const { requestId } = await deps.runComfy.submit({
    prompt,
    image_urls: [PNG_INPUT],
    guidance_scale: 2.5,
    image_size: 'square_hd',
    output_format: 'png',
  });
  const now = Date.now();
  const job: Job = {
    id: `stranded-${now}`,
    status: 'queued',
    input: {
      prompt,
      image_urls: [PNG_INPUT],
      guidance_scale: 2.5,
      image_size: 'square_hd',
      output_format: 'png',
    },
    requestId,
    createdAt: new Date(now - 60_000).toISOString(),
    updatedAt: new Date(now - 60_000).toISOString(),
    deadlineAt: new Date(now - 5_000).toISOString(),
    sweepAt: new Date(now - 4_000).toISOString(),
    submitAttempts: 1,
    pollCount: 3,
    ...extra,
  };
  await deps.store.create(job);
  return { job, requestId, deps };
}
