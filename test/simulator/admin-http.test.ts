import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../../simulator/index.ts';
import { adminHttp, apiClient, VALID_INPUT } from './helpers.ts';

describe('Function: handleAdmin (HTTP admin API under /__sim)', () => {
  let sim: RunningSimulator;
  let api: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    sim = await startSimulator({ knobs: { clock_mode: 'manual' } });
    api = apiClient(sim);
  });
  afterAll(() => sim.close());
  beforeEach(() => sim.admin.reset());

  it('lists and shows jobs, advances the clock and forces transitions', async () => {
    // Prepare
    const id = await api.submitOk();

    // Act
    const listed = await adminHttp(sim, 'GET', '/jobs');
    const clock = await adminHttp(sim, 'POST', '/clock/advance', { s: 0.5 });
    const running = await adminHttp(sim, 'GET', `/jobs/${id}`);
    const failed = await adminHttp(sim, 'POST', `/jobs/${id}/transition`, {
      to: 'failed',
      error_message: 'x',
    });
    const refused = await adminHttp(sim, 'POST', `/jobs/${id}/transition`, { to: 'succeeded' });

    // Assess
    expect(listed.body.jobs).toEqual([
      expect.objectContaining({ request_id: id, state: 'queued', queue_position: 0 }),
    ]);
    expect(clock.body).toMatchObject({ mode: 'manual', now_ms: expect.any(Number) });
    expect(running.body).toMatchObject({ state: 'running', status: 'in_progress' });
    expect(failed.body).toMatchObject({ state: 'failed', fail_reason: 'x' });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toBe('TERMINAL_STATE');
  });

  it('reads and patches knobs, refusing invalid or unknown ones', async () => {
    // Act
    const patched = await adminHttp(sim, 'PATCH', '/knobs', { output_key: 'images', workers: 3 });
    const invalid = await adminHttp(sim, 'PATCH', '/knobs', { workers: 0 });
    const unknown = await adminHttp(sim, 'PATCH', '/knobs', { warp_speed: true });
    const read = await adminHttp(sim, 'GET', '/knobs');

    // Assess
    expect(patched.body).toMatchObject({ output_key: 'images', workers: 3 });
    expect(invalid.status).toBe(400);
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toContain('warp_speed');
    expect(read.body).toMatchObject({ output_key: 'images', workers: 3 });
  });

  it('adds and clears fault rules', async () => {
    // Act
    await adminHttp(sim, 'POST', '/faults', { endpoint: 'submit', status: 500, times: 2 });
    const listed = await adminHttp(sim, 'GET', '/faults');
    const failed = await api.submit();
    await adminHttp(sim, 'DELETE', '/faults');
    const passed = await api.submit();
    const bad = await adminHttp(sim, 'POST', '/faults', { times: 1 });

    // Assess
    expect(listed.body.faults).toEqual([
      expect.objectContaining({ endpoint: 'submit', status: 500, times: 2 }),
    ]);
    expect(failed.status).toBe(500);
    expect(passed.status).toBe(200);
    expect(bad.status).toBe(400);
  });

  it('scripts the next submit and an existing job', async () => {
    // Act
    await adminHttp(sim, 'POST', '/scripts', { script: 'fail; run_s=0' });
    const first = await api.submitOk();
    const second = await api.submitOk();
    await adminHttp(sim, 'POST', `/jobs/${second}`, { script: 'stall' });
    await adminHttp(sim, 'POST', '/clock/advance', { ms: 60_000 });

    // Assess
    expect((await api.result(first)).body.status).toBe('failed');
    expect((await api.status(second)).body.status).toBe('in_progress');
  });

  it('sets and reads balances (null = unlimited)', async () => {
    // Act
    const set = await adminHttp(sim, 'PUT', '/balances/u1', { balance_usd: 0 });
    const refused = await api.submit();
    await adminHttp(sim, 'PUT', '/balances/u1', { balance_usd: null });
    const read = await adminHttp(sim, 'GET', '/balances/u1');

    // Assess
    expect(set.body).toEqual({ user_id: 'u1', balance_usd: 0 });
    expect(refused.body.error_code).toBe(400002);
    expect(read.body).toEqual({ user_id: 'u1', balance_usd: null });
  });

  it('reports and resets stats, which do not count admin calls', async () => {
    // Prepare
    await api.submit();

    // Act
    const stats = await adminHttp(sim, 'GET', '/stats');
    await adminHttp(sim, 'DELETE', '/stats');
    const after = await adminHttp(sim, 'GET', '/stats');

    // Assess
    expect(stats.body).toMatchObject({ total: 1, by_endpoint: { submit: 1 } });
    expect(after.body.total).toBe(0);
  });

  it('resets everything, optionally with new knobs', async () => {
    // Prepare
    await api.submit();
    await adminHttp(sim, 'PATCH', '/knobs', { workers: 5 });

    // Act
    await adminHttp(sim, 'POST', '/reset', { knobs: { output_count: 2 } });
    const knobs = await adminHttp(sim, 'GET', '/knobs');
    const jobs = await adminHttp(sim, 'GET', '/jobs');

    // Assess
    expect(knobs.body).toMatchObject({ workers: 1, output_count: 2, clock_mode: 'manual' });
    expect(jobs.body.jobs).toEqual([]);
  });

  it('answers 404 for unknown admin routes and jobs', async () => {
    // Act
    const route = await adminHttp(sim, 'GET', '/nothing');
    const job = await adminHttp(sim, 'GET', '/jobs/nope');

    // Assess
    expect(route.status).toBe(404);
    expect(job.status).toBe(404);
  });
});

describe('Function: checkInputImages (knob fetch_inputs)', () => {
  let sim: RunningSimulator;
  let inputs: Server;
  let inputsUrl: string;

  beforeAll(async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } })
      .png()
      .toBuffer();
    inputs = createServer((req, res) => {
      if (req.url === '/ok.png') res.writeHead(200, { 'content-type': 'image/png' }).end(png);
      else if (req.url === '/text') res.writeHead(200).end('not an image');
      else res.writeHead(403).end();
    });
    await new Promise<void>((resolve) => inputs.listen(0, '127.0.0.1', resolve));
    inputsUrl = `http://127.0.0.1:${(inputs.address() as AddressInfo).port}`;
    sim = await startSimulator({
      knobs: {
        clock_mode: 'manual',
        queue_delay_s: 0,
        run_delay_s: 1,
        fetch_inputs: true,
        allow_http_inputs: true,
      },
    });
  });
  afterAll(async () => {
    await sim.close();
    await new Promise((resolve) => inputs.close(resolve));
  });

  it.each([
    ['/ok.png', 'succeeded', undefined],
    ['/denied', 'failed', 'input not reachable (HTTP 403)'],
    ['/text', 'failed', 'input is not a decodable image'],
  ])('a run with input %s ends %s', async (path, expected, reason) => {
    // Prepare
    const api = apiClient(sim);
    const id = await api.submitOk({ ...VALID_INPUT, image_urls: [`${inputsUrl}${path}`] });

    // Act
    let state = '';
    for (let attempt = 0; attempt < 200 && !['succeeded', 'failed'].includes(state); attempt++) {
      sim.admin.advance(1_000);
      state = sim.admin.job(id)!.state;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }

    // Assess
    expect(state).toBe(expected);
    if (reason) expect(sim.admin.job(id)?.fail_reason).toBe(`image_urls[0]: ${reason}`);
  });
});
