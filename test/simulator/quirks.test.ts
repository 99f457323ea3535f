import { describe, expect, it } from 'vitest';
import { apiClient, useManualSimulator, VALID_INPUT } from './helpers.ts';

/** Knobs that switch between the spellings and shapes the evidence disagrees on (reference §3.3, §3.6, §3.8). */
describe('Function: startSimulator (alternative spellings, shapes and scripts)', () => {
  const ctx = useManualSimulator();

  const runToEnd = async (input: object = VALID_INPUT, headers: Record<string, string> = {}) => {
    const id = await ctx.api.submitOk(input, headers);
    ctx.sim.admin.advance(1_000);
    return id;
  };

  it('status_on_failure=failed makes the status endpoint say failed', async () => {
    // Prepare
    ctx.sim.admin.setKnobs({ status_on_failure: 'failed' });

    // Act
    const id = await runToEnd({ ...VALID_INPUT, prompt: '__FAIL__' });

    // Assess
    expect((await ctx.api.status(id)).body.status).toBe('failed');
  });

  it('result_success_status=completed spells success as completed on the result', async () => {
    // Prepare
    ctx.sim.admin.setKnobs({ result_success_status: 'completed' });

    // Act
    const id = await runToEnd();

    // Assess
    expect((await ctx.api.result(id)).body).toMatchObject({
      status: 'completed',
      output: { image: expect.any(String) },
    });
  });

  it('cancel_status_field=completed mimics the docs example of the cancel body', async () => {
    // Prepare
    ctx.sim.admin.setKnobs({ cancel_status_field: 'completed', queue_delay_s: 5 });
    const id = await ctx.api.submitOk();

    // Act
    const response = await ctx.api.cancel(id);

    // Assess
    expect(response.body).toEqual({ request_id: id, status: 'completed', outcome: 'cancelled' });
    expect((await ctx.api.status(id)).body.status).toBe('cancelled');
  });

  it.each([
    [{ output_key: 'images' as const }, (url: string[]) => ({ images: url })],
    [{ output_key: 'video' as const }, (url: string[]) => ({ video: url[0] })],
    [{ output_key: 'videos' as const }, (url: string[]) => ({ videos: url })],
    [{ output_count: 2 }, (url: string[]) => ({ images: url })],
    [{ output_key: 'video' as const, output_count: 3 }, (url: string[]) => ({ videos: url })],
  ])('output %o gives the matching output field', async (knobs, expected) => {
    // Prepare
    ctx.sim.admin.setKnobs(knobs);

    // Act
    const id = await runToEnd();
    const response = await ctx.api.result(id);

    // Assess
    const urls = Array.from(
      { length: 'output_count' in knobs ? knobs.output_count : 1 },
      (_, index) => `${ctx.sim.filesBaseUrl}/outputs/${id}/${index}.png`,
    );
    expect(response.body.output).toEqual(expected(urls));
  });

  it.each([
    ['object', { error_code: 500001, error_message: 'boom' }],
    ['string', 'boom'],
    ['json_string', JSON.stringify({ error_code: 500001, error_message: 'boom' })],
    ['serverless_array', [{ errorCode: 500001, error: 'boom', debugInfo: 'simulated failure' }]],
  ] as const)('error_shape=%s shapes the failed result error', async (shape, expected) => {
    // Prepare
    ctx.sim.admin.setKnobs({ error_shape: shape, error_message: 'boom' });

    // Act
    const id = await runToEnd(VALID_INPUT, { 'X-Sim-Script': 'fail' });

    // Assess
    expect((await ctx.api.result(id)).body).toMatchObject({ status: 'failed', error: expected });
  });

  it('a script can pick its own error shape and message', async () => {
    // Act
    const id = await runToEnd(VALID_INPUT, {
      'X-Sim-Script': 'fail; error_shape=string; error_message=NSFW input',
    });

    // Assess
    expect((await ctx.api.result(id)).body.error).toBe('NSFW input');
  });

  it.each([
    ['community_mock', { code: 400004, error: 'UserAccountError' }],
    ['message_only', { message: 'Invalid or expired API token' }],
  ] as const)('error_body_style=%s shapes error bodies', async (style, expected) => {
    // Prepare
    ctx.sim.admin.setKnobs({ error_body_style: style });

    // Act
    const response = await apiClient(ctx.sim, 'wrong').status('x');

    // Assess
    expect(response.status).toBe(400);
    expect(response.body).toEqual(expected);
  });

  it('http200_error_quirk answers API errors with HTTP 200 and an error body, but not injected 429s', async () => {
    // Prepare
    ctx.sim.admin.setKnobs({ http200_error_quirk: true });
    ctx.sim.admin.failNext({ endpoint: 'status', status: 429 });

    // Act
    const auth = await apiClient(ctx.sim, 'wrong').submit();
    const invalid = await ctx.api.submit({ prompt: 'x' });
    const limited = await ctx.api.status('x');

    // Assess
    expect(auth.status).toBe(200);
    expect(auth.body).toMatchObject({ error_code: 400004, error_message: expect.any(String) });
    expect(invalid.status).toBe(200);
    expect(invalid.body.error_code).toBe(422001);
    expect(limited.status).toBe(429);
  });

  it('drop_urls_in_submit answers only the request_id', async () => {
    // Prepare
    ctx.sim.admin.setKnobs({ drop_urls_in_submit: true });

    // Act
    const response = await ctx.api.submit();

    // Assess
    expect(Object.keys(response.body)).toEqual(['request_id']);
  });

  it('the X-Sim-Script header sets per-job queue and run times', async () => {
    // Prepare
    const id = await ctx.api.submitOk(VALID_INPUT, { 'X-Sim-Script': 'queue_s=3; run_s=1' });

    // Act
    ctx.sim.admin.advance(2_999);
    const stillQueued = (await ctx.api.status(id)).body.status;
    ctx.sim.admin.advance(1);
    const running = (await ctx.api.status(id)).body.status;
    ctx.sim.admin.advance(1_000);
    const done = (await ctx.api.status(id)).body.status;

    // Assess
    expect([stillQueued, running, done]).toEqual(['in_queue', 'in_progress', 'completed']);
  });

  it('a [sim: …] block in the prompt scripts the job like the header', async () => {
    // Act
    const id = await runToEnd({
      ...VALID_INPUT,
      prompt: 'make it red [sim: fail; error_message=from prompt]',
    });

    // Assess
    expect((await ctx.api.result(id)).body.error).toEqual({
      error_code: 500001,
      error_message: 'from prompt',
    });
  });

  it('an invalid X-Sim-Script is refused with 400 and creates no job', async () => {
    // Act
    const response = await ctx.api.submit(VALID_INPUT, { headers: { 'X-Sim-Script': 'explode' } });

    // Assess
    expect(response.status).toBe(400);
    expect(response.body.error).toBe('INVALID_SIM_SCRIPT');
    expect(ctx.sim.admin.jobs()).toHaveLength(0);
  });

  it('admin.scriptNext scripts the next submits and admin.scriptJob an existing job', async () => {
    // Prepare
    ctx.sim.admin.setKnobs({ run_delay_s: 10 });
    ctx.sim.admin.scriptNext('fail', 1);
    const scripted = await ctx.api.submitOk();
    const plain = await ctx.api.submitOk();
    ctx.sim.admin.scriptJob(plain, 'run_s=0.5; fail; error_message=late failure');

    // Act
    ctx.sim.admin.advance(60_000);

    // Assess
    expect((await ctx.api.result(scripted)).body.status).toBe('failed');
    expect((await ctx.api.result(plain)).body).toMatchObject({
      status: 'failed',
      error: { error_message: 'late failure' },
    });
  });

  it('p_fail fails a reproducible share of runs', async () => {
    // Prepare
    const outcomes = async () => {
      ctx.sim.admin.reset({ knobs: { p_fail: 0.5, random_seed: 7, run_delay_s: 0, workers: 8 } });
      const ids = [];
      for (let i = 0; i < 8; i++) ids.push(await ctx.api.submitOk());
      ctx.sim.admin.advance(1);
      return Promise.all(ids.map(async (id) => (await ctx.api.result(id)).body.status));
    };

    // Act
    const first = await outcomes();
    const second = await outcomes();

    // Assess
    expect(first).toEqual(second);
    expect(first).toContain('failed');
    expect(first).toContain('succeeded');
  });

  it('serves the catalog (GET /v1/models[/{id}]) with the price knob', async () => {
    // Prepare
    ctx.sim.admin.setKnobs({ price_per_request_usd: 0.02 });

    // Act
    const list = await ctx.api.raw('GET', '/v1/models?category=image-to-image');
    const one = await ctx.api.raw('GET', '/v1/models/blackforestlabs/flux-2/flash/edit');

    // Assess
    expect(list.body).toMatchObject({
      total: 1,
      models: [{ model_id: 'blackforestlabs/flux-2/flash/edit' }],
    });
    expect(list.body.models).not.toHaveProperty('0.input_schema');
    expect(one.body).toMatchObject({
      base_price_usd: 0.02,
      input_schema: { required: ['prompt', 'image_urls'] },
    });
    expect(ctx.sim.admin.stats().by_endpoint).toMatchObject({ catalog: 2, submit: 0 });
  });

  it('answers unknown paths with 404/404001 and wrong methods with 405', async () => {
    // Act
    const unknown = await ctx.api.raw('GET', '/v1/somewhere');
    const getCancel = await ctx.api.raw('GET', '/v1/requests/abc/cancel');
    const postStatus = await ctx.api.raw('POST', '/v1/requests/abc/status');
    const putSubmit = await ctx.api.raw('PUT', '/v1/models/blackforestlabs/flux-2/flash/edit', VALID_INPUT);

    // Assess
    expect(unknown.status).toBe(404);
    expect(unknown.body.error_code).toBe(404001);
    for (const response of [getCancel, postStatus, putSubmit]) expect(response.status).toBe(405);
    expect(getCancel.headers.get('allow')).toBe('POST');
  });

  it('strips trailing slashes from the model id', async () => {
    // Act
    const response = await ctx.api.submit(VALID_INPUT, { model: 'blackforestlabs/flux-2/flash/edit/' });

    // Assess
    expect(response.status).toBe(200);
  });
});
