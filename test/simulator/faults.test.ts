import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../../simulator/index.ts';
import { apiClient, download, VALID_INPUT } from './helpers.ts';

describe('Class: FaultInjector (via the wire)', () => {
  let sim: RunningSimulator;
  let api: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    sim = await startSimulator({ knobs: { clock_mode: 'manual', queue_delay_s: 0, run_delay_s: 1 } });
    api = apiClient(sim);
  });
  afterAll(() => sim.close());
  beforeEach(() => sim.admin.reset());

  describe('Method: failNext', () => {
    it('answers the next N matching calls with 429 + Retry-After, then behaves again', async () => {
      // Prepare
      const id = await api.submitOk();
      sim.admin.failNext({ method: 'GET', path_prefix: '/v1/requests/', status: 429, times: 2 });

      // Act
      const responses = [await api.status(id), await api.result(id), await api.status(id)];

      // Assess
      expect(responses.map((response) => response.status)).toEqual([429, 429, 200]);
      expect(responses[0]!.body).toMatchObject({ error_code: 429001 });
      expect(responses[0]!.headers.get('retry-after')).toBe('1');
      expect(sim.admin.faults()).toEqual([]);
    });

    it('leaves out Retry-After when send_retry_after is off, and uses a rule-specific value otherwise', async () => {
      // Prepare
      const id = await api.submitOk();
      sim.admin.setKnobs({ send_retry_after: false });
      sim.admin.failNext({ endpoint: 'status', status: 429 });
      sim.admin.failNext({ endpoint: 'status', status: 502, retry_after_s: 7 });

      // Act
      const without = await api.status(id);
      const withValue = await api.status(id);

      // Assess
      expect(without.status).toBe(429);
      expect(without.headers.get('retry-after')).toBeNull();
      expect(withValue.status).toBe(502);
      expect(withValue.headers.get('retry-after')).toBe('7');
    });

    it('fails a submit before commit: no job is created', async () => {
      // Prepare
      sim.admin.failNext({ endpoint: 'submit', status: 503 });

      // Act
      const failed = await api.submit();
      const retried = await api.submit();

      // Assess
      expect(failed.status).toBe(503);
      expect(retried.status).toBe(200);
      expect(sim.admin.jobs()).toHaveLength(1);
    });

    it('can answer with a non-JSON gateway page', async () => {
      // Prepare
      const id = await api.submitOk();
      sim.admin.failNext({ endpoint: 'result', status: 502, body: 'text' });

      // Act
      const response = await fetch(`${sim.baseUrl}/v1/requests/${id}/result`, {
        headers: { authorization: `Bearer ${sim.token}` },
      });

      // Assess
      expect(response.status).toBe(502);
      expect(response.headers.get('content-type')).toBe('text/html');
      expect(await response.text()).toContain('502');
    });

    it('drops the connection before handling: the call fails and no job exists', async () => {
      // Prepare
      sim.admin.failNext({ endpoint: 'submit', drop: 'before' });

      // Act
      const attempt = api.submit();

      // Assess
      await expect(attempt).rejects.toThrow();
      expect(sim.admin.jobs()).toHaveLength(0);
      expect(sim.admin.stats().by_endpoint_status['submit dropped']).toBe(1);
    });

    it('drops the connection after commit: the submit response is lost but the job exists and runs', async () => {
      // Prepare
      sim.admin.failNext({ endpoint: 'submit', drop: 'after' });

      // Act
      const attempt = api.submit();

      // Assess
      await expect(attempt).rejects.toThrow();
      const [job] = sim.admin.jobs();
      expect(job?.state).toBe('running');
      sim.admin.advance(1_000);
      expect((await api.result(job!.request_id)).body.status).toBe('succeeded');
    });

    it('rejects a rule with neither or both of status and drop', () => {
      // Act / Assess
      expect(() => sim.admin.failNext({ endpoint: 'submit' })).toThrow(/exactly one of status and drop/);
      expect(() => sim.admin.failNext({ status: 500, drop: 'after' })).toThrow(/exactly one/);
    });
  });

  it('close_connection_on_submit_after_commit loses every submit response but keeps the jobs', async () => {
    // Prepare
    sim.admin.setKnobs({ close_connection_on_submit_after_commit: true });

    // Act
    const attempts = await Promise.allSettled([api.submit(), api.submit()]);

    // Assess
    expect(attempts.map((attempt) => attempt.status)).toEqual(['rejected', 'rejected']);
    expect(sim.admin.jobs()).toHaveLength(2);
    expect(sim.admin.stats()).toMatchObject({ jobs_created: 2, by_endpoint: { submit: 2 } });
  });

  it('the drop_response script loses one submit response only', async () => {
    // Act
    const lost = api.submit(VALID_INPUT, { headers: { 'X-Sim-Script': 'drop_response' } });
    await expect(lost).rejects.toThrow();
    const kept = await api.submit();

    // Assess
    expect(kept.status).toBe(200);
    expect(sim.admin.jobs()).toHaveLength(2);
  });

  it('p_status_5xx fails GETs with 500/502/503, reproducibly for a given random_seed', async () => {
    // Prepare
    const id = await api.submitOk();
    const run = async () => {
      sim.admin.setKnobs({ p_status_5xx: 0.5, random_seed: 42 });
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push((await api.status(id)).status);
      return statuses;
    };

    // Act
    const first = await run();
    const second = await run();
    const cancel = await api.cancel(id);

    // Assess
    expect(first).toEqual(second);
    expect(new Set(first.filter((status) => status !== 200)).size).toBeGreaterThan(0);
    expect(first.every((status) => [200, 500, 502, 503].includes(status))).toBe(true);
    expect(cancel.status).toBe(202);
  });

  it('p_submit_5xx fails submits before commit', async () => {
    // Prepare
    sim.admin.setKnobs({ p_submit_5xx: 1 });

    // Act
    const response = await api.submit();

    // Assess
    expect(response.status).toBeGreaterThanOrEqual(500);
    expect(sim.admin.jobs()).toHaveLength(0);
  });

  it('latency_ms delays every API answer', async () => {
    // Prepare
    sim.admin.setKnobs({ latency_ms: 60 });
    const started = performance.now();

    // Act
    const response = await api.submit();

    // Assess
    expect(response.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
  });

  describe('stall', () => {
    it('keeps a job in_progress forever without blocking the queue, until an admin transition', async () => {
      // Prepare
      const stalled = await api.submitOk(VALID_INPUT, { 'X-Sim-Script': 'stall' });
      const byPrompt = await api.submitOk({ ...VALID_INPUT, prompt: 'edit __STALL__' });
      const normal = await api.submitOk();

      // Act
      sim.admin.advance(24 * 3600 * 1000);
      const statuses = [await api.status(stalled), await api.status(byPrompt), await api.status(normal)];
      const cancel = await api.cancel(stalled);
      sim.admin.transition(stalled, 'succeeded');

      // Assess
      expect(statuses.map((response) => response.body.status)).toEqual([
        'in_progress',
        'in_progress',
        'completed',
      ]);
      expect(cancel.body.outcome).toBe('not_cancellable');
      expect((await api.result(stalled)).body.status).toBe('succeeded');
    });
  });

  describe('expiry', () => {
    it('record_ttl_s makes status, result and cancel answer 404001 after the TTL', async () => {
      // Prepare
      sim.admin.setKnobs({ record_ttl_s: 60 });
      const id = await api.submitOk();
      sim.admin.advance(60_000);
      const atTtl = await api.status(id);

      // Act
      sim.admin.advance(1);
      const expired = [await api.status(id), await api.result(id), await api.cancel(id)];

      // Assess
      expect(atTtl.status).toBe(200);
      for (const response of expired) {
        expect(response.status).toBe(404);
        expect(response.body.error_code).toBe(404001);
      }
      expect(sim.admin.job(id)?.record_expired).toBe(true);
    });

    it('the expire_after_s script expires one record', async () => {
      // Prepare
      const short = await api.submitOk(VALID_INPUT, { 'X-Sim-Script': 'expire_after_s=5' });
      const normal = await api.submitOk();

      // Act
      sim.admin.advance(5_001);

      // Assess
      expect((await api.result(short)).status).toBe(404);
      expect((await api.result(normal)).status).toBe(200);
    });

    it('output_ttl_s makes output files 404 (or output_expired_http) after the TTL from finished_at', async () => {
      // Prepare
      sim.admin.setKnobs({ output_ttl_s: 30 });
      const id = await api.submitOk();
      sim.admin.advance(1_000);
      const url = ((await api.result(id)).body.output as { image: string }).image;
      const fresh = await download(url);

      // Act
      sim.admin.advance(30_001);
      const expired = await download(url);
      sim.admin.setKnobs({ output_expired_http: 403 });
      const forbidden = await download(url);

      // Assess
      expect(fresh.status).toBe(200);
      expect(expired.status).toBe(404);
      expect(forbidden.status).toBe(403);
      expect((await api.result(id)).body.status).toBe('succeeded');
    });

    it('the output_ttl_s script expires one job outputs', async () => {
      // Prepare
      const id = await api.submitOk(VALID_INPUT, { 'X-Sim-Script': 'output_ttl_s=2' });
      sim.admin.advance(1_000);
      const url = ((await api.result(id)).body.output as { image: string }).image;

      // Act
      sim.admin.advance(2_001);

      // Assess
      expect((await download(url)).status).toBe(404);
    });
  });

  it('counts every upstream call per endpoint, including injected failures', async () => {
    // Prepare
    const id = await api.submitOk();
    sim.admin.failNext({ endpoint: 'status', status: 503 });
    await api.status(id);
    await api.status(id);
    await api.result(id);
    await api.cancel(id);
    await api.raw('GET', '/v1/nowhere');

    // Act
    const stats = sim.admin.stats();

    // Assess
    expect(stats).toMatchObject({
      total: 6,
      by_endpoint: { submit: 1, status: 2, result: 1, cancel: 1, unknown: 1, file: 0 },
      by_endpoint_status: {
        'submit 200': 1,
        'status 503': 1,
        'status 200': 1,
        'cancel 202': 1,
        'unknown 404': 1,
      },
      jobs_created: 1,
    });
  });
});
