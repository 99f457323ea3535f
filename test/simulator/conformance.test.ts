import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../../simulator/index.ts';
import { apiClient, download, UUID_V4, VALID_INPUT } from './helpers.ts';

/** The reference's §3.10 conformance checklist, item by item, against the wire. */
describe('Function: startSimulator (§3.10 conformance)', () => {
  let sim: RunningSimulator;
  let api: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    sim = await startSimulator({
      knobs: { clock_mode: 'manual', tokens: { 'sim-token': 'u1', 'other-token': 'u2' } },
    });
    api = apiClient(sim);
  });
  afterAll(() => sim.close());
  beforeEach(() => sim.admin.reset());

  it('1. submit answers 200 with request_id and absolute status/result/cancel URLs back to the simulator', async () => {
    // Act
    const response = await api.submit();

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    const id = response.body.request_id as string;
    expect(id).toMatch(UUID_V4);
    expect(response.body).toEqual({
      request_id: id,
      status_url: `${sim.baseUrl}/v1/requests/${id}/status`,
      result_url: `${sim.baseUrl}/v1/requests/${id}/result`,
      cancel_url: `${sim.baseUrl}/v1/requests/${id}/cancel`,
    });
    expect(sim.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('2. status goes in_queue (with queue_position) -> in_progress (without) -> completed, never backwards', async () => {
    // Prepare
    const id = await api.submitOk();

    // Act
    const queued = await api.status(id);
    sim.admin.advance(500);
    const running = await api.status(id);
    sim.admin.advance(2_000);
    const done = await api.status(id);
    const later = await api.status(id);

    // Assess
    expect(queued.body).toEqual({
      request_id: id,
      status: 'in_queue',
      queue_position: 0,
      status_url: `${sim.baseUrl}/v1/requests/${id}/status`,
      result_url: `${sim.baseUrl}/v1/requests/${id}/result`,
    });
    expect(running.body.status).toBe('in_progress');
    expect(running.body).not.toHaveProperty('queue_position');
    expect(done.body.status).toBe('completed');
    expect(later.body.status).toBe('completed');
  });

  it('3. result is 200 with the current state before completion, then succeeded with output.image and timestamps', async () => {
    // Prepare
    const id = await api.submitOk();

    // Act
    const queued = await api.result(id);
    sim.admin.advance(500);
    const running = await api.result(id);
    sim.admin.advance(2_000);
    const done = await api.result(id);

    // Assess
    expect(queued.status).toBe(200);
    expect(queued.body.status).toBe('in_queue');
    expect(queued.body).not.toHaveProperty('output');
    expect(running.status).toBe(200);
    expect(running.body.status).toBe('in_progress');
    expect(running.body).not.toHaveProperty('output');
    expect(done.status).toBe(200);
    expect(done.body).toEqual({
      request_id: id,
      status: 'succeeded',
      output: { image: `${sim.filesBaseUrl}/outputs/${id}/0.png` },
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/),
      finished_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/),
    });
    expect(Date.parse(done.body.finished_at as string) - Date.parse(done.body.created_at as string)).toBe(
      2_500,
    );
  });

  it('4. the output URL answers a GET without auth with image bytes of the asked format and size', async () => {
    // Prepare
    const id = await api.submitOk({ ...VALID_INPUT, output_format: 'jpeg', image_size: 'portrait_16_9' });
    sim.admin.advance(2_500);
    const url = (await api.result(id)).body.output as { image: string };

    // Act
    const file = await download(url.image);

    // Assess
    expect(url.image).toBe(`${sim.filesBaseUrl}/outputs/${id}/0.jpg`);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('image/jpeg');
    const meta = await sharp(file.bytes).metadata();
    expect(meta).toMatchObject({ format: 'jpeg', width: 576, height: 1024 });
  });

  it('5. cancel while queued answers 202 outcome cancelled; status and result then say cancelled', async () => {
    // Prepare
    const id = await api.submitOk();

    // Act
    const response = await api.cancel(id);
    sim.admin.advance(10_000);

    // Assess
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ request_id: id, status: 'cancelled', outcome: 'cancelled' });
    expect((await api.status(id)).body.status).toBe('cancelled');
    const result = await api.result(id);
    expect(result.body).toMatchObject({ status: 'cancelled', finished_at: expect.any(String) });
    expect(result.body).not.toHaveProperty('output');
  });

  it('6. cancel while running or completed answers 202 not_cancellable and changes nothing', async () => {
    // Prepare
    const id = await api.submitOk();
    sim.admin.advance(500);

    // Act
    const whileRunning = await api.cancel(id);
    const statusAfter = await api.status(id);
    sim.admin.advance(2_000);
    const whenDone = await api.cancel(id);

    // Assess
    expect(whileRunning.status).toBe(202);
    expect(whileRunning.body).toEqual({ request_id: id, status: 'in_progress', outcome: 'not_cancellable' });
    expect(statusAfter.body.status).toBe('in_progress');
    expect(whenDone.status).toBe(202);
    expect(whenDone.body).toEqual({ request_id: id, status: 'completed', outcome: 'not_cancellable' });
    expect((await api.result(id)).body.status).toBe('succeeded');
  });

  it('7. an injected failure shows status completed, result failed with error and no output', async () => {
    // Prepare
    const id = await api.submitOk({ ...VALID_INPUT, prompt: 'make it red __FAIL__' });

    // Act
    sim.admin.advance(2_500);
    const status = await api.status(id);
    const result = await api.result(id);

    // Assess
    expect(status.body.status).toBe('completed');
    expect(result.body).toMatchObject({
      status: 'failed',
      error: { error_code: 500001, error_message: 'Simulated generation failure' },
    });
    expect(result.body).not.toHaveProperty('output');
  });

  it('8a. a missing or wrong token gives 400/400004, or 401 with auth_error_http', async () => {
    // Act
    const missing = await apiClient(sim, '').submit();
    const wrong = await apiClient(sim, 'nope').status('anything');
    sim.admin.setKnobs({ auth_error_http: 401 });
    const wrong401 = await apiClient(sim, 'nope').submit();

    // Assess
    for (const response of [missing, wrong]) {
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ error_code: 400004, error: 'UserAccountError' });
    }
    expect(wrong401.status).toBe(401);
    expect(wrong401.body.error_code).toBe(400004);
    expect(sim.admin.jobs()).toHaveLength(0);
  });

  it("8b. another user's request gives 403/403001 and a random id 404/404001 on status, result and cancel", async () => {
    // Prepare
    const id = await api.submitOk();
    const other = apiClient(sim, 'other-token');

    // Act
    const foreign = [await other.status(id), await other.result(id), await other.cancel(id)];
    const unknown = [
      await api.status(crypto.randomUUID()),
      await api.result(crypto.randomUUID()),
      await api.cancel(crypto.randomUUID()),
    ];

    // Assess
    for (const response of foreign) {
      expect(response.status).toBe(403);
      expect(response.body).toMatchObject({ error_code: 403001, error: 'PermissionDeniedError' });
    }
    for (const response of unknown) {
      expect(response.status).toBe(404);
      expect(response.body).toMatchObject({ error_code: 404001, error: 'ResourceNotFound' });
    }
    expect(sim.admin.job(id)?.state).toBe('queued');
  });

  it('9. a bad model id gives 400/400001, or 404 with unknown_model_http', async () => {
    // Act
    const bad = await api.submit(VALID_INPUT, { model: 'blackforestlabs/flux-2/flash/nope' });
    sim.admin.setKnobs({ unknown_model_http: 404 });
    const bad404 = await api.submit(VALID_INPUT, { model: 'nope' });

    // Assess
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error_code: 400001, error: 'InvalidResourceIdentifier' });
    expect(bad404.status).toBe(404);
    expect(bad404.body.error_code).toBe(400001);
  });

  it.each([
    ['missing prompt', { image_urls: VALID_INPUT.image_urls }, ['body', 'prompt'], 'missing'],
    ['0 image_urls', { ...VALID_INPUT, image_urls: [] }, ['body', 'image_urls'], 'too_short'],
    [
      '5 image_urls',
      { ...VALID_INPUT, image_urls: Array(5).fill(VALID_INPUT.image_urls[0]) },
      ['body', 'image_urls'],
      'too_long',
    ],
    [
      'an http:// URL',
      { ...VALID_INPUT, image_urls: ['http://example.com/a.png'] },
      ['body', 'image_urls', 0],
      'url_scheme',
    ],
    [
      'guidance_scale 21',
      { ...VALID_INPUT, guidance_scale: 21 },
      ['body', 'guidance_scale'],
      'less_than_equal',
    ],
    ['image_size "huge"', { ...VALID_INPUT, image_size: 'huge' }, ['body', 'image_size'], 'enum'],
    ['output_format "gif"', { ...VALID_INPUT, output_format: 'gif' }, ['body', 'output_format'], 'enum'],
    ['a float seed', { ...VALID_INPUT, seed: 1.5 }, ['body', 'seed'], 'int_from_float'],
  ])('10. %s gives 422/422001 with a FastAPI-style detail', async (_name, input, loc, type) => {
    // Act
    const response = await api.submit(input);

    // Assess
    expect(response.status).toBe(422);
    expect(response.body).toMatchObject({
      error_code: 422001,
      error: 'ValidationError',
      error_message: 'Input validation failed',
      detail: [{ loc, type, msg: expect.any(String) }],
    });
    expect(sim.admin.jobs()).toHaveLength(0);
  });

  it('11. include_cost=true adds the charged cost (0 until charged and for cancelled jobs)', async () => {
    // Prepare
    const done = await api.submitOk();
    const cancelled = await api.submitOk();
    await api.cancel(cancelled);

    // Act
    const before = await api.result(done, '?include_cost=true');
    sim.admin.advance(2_500);
    const after = await api.result(done, '?include_cost=true');
    const plain = await api.result(done);

    // Assess
    expect(before.body.cost).toBe(0);
    expect(after.body.cost).toBe(0.01);
    expect(plain.body).not.toHaveProperty('cost');
    expect((await api.result(cancelled, '?include_cost=true')).body.cost).toBe(0);
  });

  it('12a. the rate_limit knob answers 429/429001 with Retry-After once the window is used up', async () => {
    // Prepare
    sim.admin.setKnobs({ rate_limit: { requests: 2, window_s: 10 } });
    const id = await api.submitOk();

    // Act
    const allowed = await api.status(id);
    const limited = await api.status(id);
    sim.admin.advance(10_000);
    const reopened = await api.status(id);

    // Assess
    expect(allowed.status).toBe(200);
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ error_code: 429001 });
    expect(limited.headers.get('retry-after')).toBe('10');
    expect(reopened.status).toBe(200);
  });

  it('12b. injected 5xx answer 500/503 (503 with Retry-After)', async () => {
    // Prepare
    const id = await api.submitOk();
    sim.admin.failNext({ endpoint: 'status', status: 500 });
    sim.admin.failNext({ endpoint: 'status', status: 503 });

    // Act
    const first = await api.status(id);
    const second = await api.status(id);
    const third = await api.status(id);

    // Assess
    expect(first.status).toBe(500);
    expect(first.body).toMatchObject({ error_code: 500001 });
    expect(first.headers.get('retry-after')).toBeNull();
    expect(second.status).toBe(503);
    expect(second.headers.get('retry-after')).toBe('1');
    expect(third.status).toBe(200);
  });
});
