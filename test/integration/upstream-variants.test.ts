import { describe, expect, it } from 'vitest';
import type { KnobsInput } from '../../simulator/index.ts';
import { useLocalPipeline } from '../support/local-pipeline-fixture.ts';
import { cancel, getJob, PNG_INPUT, postEdit, waitForJob, waitUntil } from '../support/pipeline-helpers.ts';

/**
 * The pipeline must work against any server that speaks RunComfy's API, so it must not depend on
 * the simulator's own choice wherever the reference leaves an alternative open (§3.8 knobs): each
 * variant runs a success and a failure end to end.
 */
const BASE: Partial<KnobsInput> = {
  queue_delay_s: 0.2,
  run_delay_s: 0.3,
  workers: 8,
  allow_http_inputs: true,
};

const fixture = useLocalPipeline({
  stackName: 'variants-test',
  simulator: { knobs: BASE },
});
const sim = () => fixture.sim;

const VARIANTS: [string, Partial<KnobsInput>][] = [
  ['the status endpoint saying `failed` for failures', { status_on_failure: 'failed' }],
  ['a result status of `completed` on success', { result_success_status: 'completed' }],
  ['outputs under `images` (an array)', { output_key: 'images' }],
  ['errors as a plain string', { error_shape: 'string' }],
  ['errors as a JSON-encoded string', { error_shape: 'json_string' }],
  ['errors as the Serverless API’s array', { error_shape: 'serverless_array' }],
  ['a submit answer with only the request id', { drop_urls_in_submit: true }],
  ['1-based queue positions', { queue_position_base: 1 }],
  ['community-style error bodies', { error_body_style: 'community_mock' }],
];

describe('Pipeline: RunComfy’s documented alternatives', () => {
  it.each(VARIANTS)('works with %s', async (_name, knobs) => {
    sim().reset({ knobs: { ...BASE, ...knobs } });

    const [good, bad] = await Promise.all([
      postEdit(fixture.pipeline, { prompt: 'variant success', image_urls: [PNG_INPUT] }),
      postEdit(fixture.pipeline, { prompt: 'variant __FAIL__', image_urls: [PNG_INPUT] }),
    ]);
    const [succeeded, failed] = await Promise.all([
      waitForJob(fixture.pipeline, String(good.body.id)),
      waitForJob(fixture.pipeline, String(bad.body.id)),
    ]);

    expect(succeeded.status).toBe('succeeded');
    expect(succeeded.outputs?.length).toBeGreaterThanOrEqual(1);
    expect(failed.status).toBe('failed');
    expect(failed.error?.code).toBe('UPSTREAM_FAILED');
    expect(failed.error?.message).toMatch(/Simulated generation failure/);
  });

  it('reads a cancel answer whose `status` says `completed`, keying on `outcome`', async () => {
    sim().reset({ knobs: { ...BASE, cancel_status_field: 'completed', clock_mode: 'manual' } });
    const submitted = await postEdit(fixture.pipeline, { prompt: 'cancel variant', image_urls: [PNG_INPUT] });
    const id = String(submitted.body.id);
    await waitUntil(async () => (await getJob(fixture.pipeline, id)).upstream_request_id ?? undefined);

    const response = await cancel(fixture.pipeline, id);

    expect(response.status).toBe(200);
    expect(response.body.status).toBe('cancelled');
  });

  it('recognises a 401 for a bad token and a 200 that carries an error', async () => {
    sim().reset({ knobs: { ...BASE, auth_error_http: 401, tokens: { other: 'u9' } } });
    const unauthorised = await postEdit(fixture.pipeline, { prompt: '401 variant', image_urls: [PNG_INPUT] });
    sim().reset({ knobs: { ...BASE, http200_error_quirk: true, tokens: { other: 'u9' } } });
    const quirk = await postEdit(fixture.pipeline, { prompt: '200 error variant', image_urls: [PNG_INPUT] });

    for (const submitted of [unauthorised, quirk]) {
      const job = await waitForJob(fixture.pipeline, String(submitted.body.id));
      expect(job.status).toBe('failed');
      expect(job.error).toMatchObject({ code: 'UPSTREAM_REJECTED', upstream: { kind: 'auth' } });
    }
  });
});
