import { describe, expect, it } from 'vitest';
import { download, useManualSimulator, VALID_INPUT } from './helpers.ts';

describe('Class: FaultInjector (via the wire)', () => {
  const ctx = useManualSimulator();

  describe('Method: failNext', () => {
    it('answers the next N matching calls with 429 + Retry-After, then behaves again', async () => {
      // Prepare
      const id = await ctx.api.submitOk();
      ctx.sim.admin.failNext({ method: 'GET', path_prefix: '/v1/requests/', status: 429, times: 2 });

      // Act
      const responses = [await ctx.api.status(id), await ctx.api.result(id), await ctx.api.status(id)];

      // Assess
      expect(responses.map((response) => response.status)).toEqual([429, 429, 200]);
      expect(responses[0]!.body).toMatchObject({ error_code: 429001 });
      expect(responses[0]!.headers.get('retry-after')).toBe('1');
      expect(ctx.sim.admin.faults()).toEqual([]);
    });

    it('leaves out Retry-After when send_retry_after is off, and uses a rule-specific value otherwise', async () => {
      // Prepare
      const id = await ctx.api.submitOk();
      ctx.sim.admin.setKnobs({ send_retry_after: false });
      ctx.sim.admin.failNext({ endpoint: 'status', status: 429 });
      ctx.sim.admin.failNext({ endpoint: 'status', status: 502, retry_after_s: 7 });

      // Act
      const without = await ctx.api.status(id);
      const withValue = await ctx.api.status(id);

      // Assess
      expect(without.status).toBe(429);
      expect(without.headers.get('retry-after')).toBeNull();
      expect(withValue.status).toBe(502);
      expect(withValue.headers.get('retry-after')).toBe('7');
    });

    it('fails a submit before commit: no job is created', async () => {
      // Prepare
      ctx.sim.admin.failNext({ endpoint: 'submit', status: 503 });

      // Act
      const failed = await ctx.api.submit();
      const retried = await ctx.api.submit();

      // Assess
      expect(failed.status).toBe(503);
      expect(retried.status).toBe(200);
      expect(ctx.sim.admin.jobs()).toHaveLength(1);
    });

    it('can answer with a non-JSON gateway page', async () => {
      // Prepare
      const id = await ctx.api.submitOk();
      ctx.sim.admin.failNext({ endpoint: 'result', status: 502, body: 'text' });

      // Act
      const response = await fetch(`${ctx.sim.baseUrl}/v1/requests/${id}/result`, {
        headers: { authorization: `Bearer ${ctx.sim.token}` },
      });

      // Assess
      expect(response.status).toBe(502);
      expect(response.headers.get('content-type')).toBe('text/html');
      expect(await response.text()).toContain('502');
    });

    it('drops the connection before handling: the call fails and no job exists', async () => {
      // Prepare
      ctx.sim.admin.failNext({ endpoint: 'submit', drop: 'before' });

      // Act
      const attempt = ctx.api.submit();

      // Assess
      await expect(attempt).rejects.toThrow();
      expect(ctx.sim.admin.jobs()).toHaveLength(0);
      expect(ctx.sim.admin.stats().by_endpoint_status['submit dropped']).toBe(1);
    });

    it('drops the connection after commit: the submit response is lost but the job exists and runs', async () => {
      // Prepare
      ctx.sim.admin.failNext({ endpoint: 'submit', drop: 'after' });

      // Act
      const attempt = ctx.api.submit();

      // Assess
      await expect(attempt).rejects.toThrow();
      const [job] = ctx.sim.admin.jobs();
      expect(job?.state).toBe('running');
      ctx.sim.admin.advance(1_000);
      expect((await ctx.api.result(job!.request_id)).body.status).toBe('succeeded');
    });

    it('rejects a rule with neither or both of status and drop', () => {
      // Act / Assess
      expect(() => ctx.sim.admin.failNext({ endpoint: 'submit' })).toThrow(/exactly one of status and drop/);
      expect(() => ctx.sim.admin.failNext({ status: 500, drop: 'after' })).toThrow(/exactly one/);
    });
  });

  it('close_connection_on_submit_after_commit loses every submit response but keeps the jobs', async () => {
    // Prepare
    ctx.sim.admin.setKnobs({ close_connection_on_submit_after_commit: true });

    // Act
    const attempts = await Promise.allSettled([ctx.api.submit(), ctx.api.submit()]);

    // Assess
    expect(attempts.map((attempt) => attempt.status)).toEqual(['rejected', 'rejected']);
    expect(ctx.sim.admin.jobs()).toHaveLength(2);
    expect(ctx.sim.admin.stats()).toMatchObject({ jobs_created: 2, by_endpoint: { submit: 2 } });
  });

  it('the drop_response script loses one submit response only', async () => {
    // Act
    const lost = ctx.api.submit(VALID_INPUT, { headers: { 'X-Sim-Script': 'drop_response' } });
    await expect(lost).rejects.toThrow();
    const kept = await ctx.api.submit();

    // Assess
    expect(kept.status).toBe(200);
    expect(ctx.sim.admin.jobs()).toHaveLength(2);
  });

  it('p_status_5xx fails GETs with 500/502/503, reproducibly for a given random_seed', async () => {
    // Prepare
    const id = await ctx.api.submitOk();
    const run = async () => {
      ctx.sim.admin.setKnobs({ p_status_5xx: 0.5, random_seed: 42 });
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push((await ctx.api.status(id)).status);
      return statuses;
    };

    // Act
    const first = await run();
    const second = await run();
    const cancel = await ctx.api.cancel(id);

    // Assess
    expect(first).toEqual(second);
    expect(new Set(first.filter((status) => status !== 200)).size).toBeGreaterThan(0);
    expect(first.every((status) => [200, 500, 502, 503].includes(status))).toBe(true);
    expect(cancel.status).toBe(202);
  });

  it('p_submit_5xx fails submits before commit', async () => {
    // Prepare
    ctx.sim.admin.setKnobs({ p_submit_5xx: 1 });

    // Act
    const response = await ctx.api.submit();

    // Assess
    expect(response.status).toBeGreaterThanOrEqual(500);
    expect(ctx.sim.admin.jobs()).toHaveLength(0);
  });

  it('latency_ms delays every API answer', async () => {
    // Prepare
    ctx.sim.admin.setKnobs({ latency_ms: 60 });
    const started = performance.now();

    // Act
    const response = await ctx.api.submit();

    // Assess
    expect(response.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
  });

  describe('stall', () => {
    it('keeps a job in_progress forever without blocking the queue, until an admin transition', async () => {
      // Prepare
      const stalled = await ctx.api.submitOk(VALID_INPUT, { 'X-Sim-Script': 'stall' });
      const byPrompt = await ctx.api.submitOk({ ...VALID_INPUT, prompt: 'edit __STALL__' });
      const normal = await ctx.api.submitOk();

      // Act
      ctx.sim.admin.advance(24 * 3600 * 1000);
      const statuses = [
        await ctx.api.status(stalled),
        await ctx.api.status(byPrompt),
        await ctx.api.status(normal),
      ];
      const cancel = await ctx.api.cancel(stalled);
      ctx.sim.admin.transition(stalled, 'succeeded');

      // Assess
      expect(statuses.map((response) => response.body.status)).toEqual([
        'in_progress',
        'in_progress',
        'completed',
      ]);
      expect(cancel.body.outcome).toBe('not_cancellable');
      expect((await ctx.api.result(stalled)).body.status).toBe('succeeded');
    });
  });

  describe('expiry', () => {
    it('record_ttl_s makes status, result and cancel answer 404001 after the TTL', async () => {
      // Prepare
      ctx.sim.admin.setKnobs({ record_ttl_s: 60 });
      const id = await ctx.api.submitOk();
      ctx.sim.admin.advance(60_000);
      const atTtl = await ctx.api.status(id);

      // Act
      ctx.sim.admin.advance(1);
      const expired = [await ctx.api.status(id), await ctx.api.result(id), await ctx.api.cancel(id)];

      // Assess
      expect(atTtl.status).toBe(200);
      for (const response of expired) {
        expect(response.status).toBe(404);
        expect(response.body.error_code).toBe(404001);
      }
      expect(ctx.sim.admin.job(id)?.record_expired).toBe(true);
    });

    it('the expire_after_s script expires one record', async () => {
      // Prepare
      const short = await ctx.api.submitOk(VALID_INPUT, { 'X-Sim-Script': 'expire_after_s=5' });
      const normal = await ctx.api.submitOk();

      // Act
      ctx.sim.admin.advance(5_001);

      // Assess
      expect((await ctx.api.result(short)).status).toBe(404);
      expect((await ctx.api.result(normal)).status).toBe(200);
    });

    it('output_ttl_s makes output files 404 (or output_expired_http) after the TTL from finished_at', async () => {
      // Prepare
      ctx.sim.admin.setKnobs({ output_ttl_s: 30 });
      const id = await ctx.api.submitOk();
      ctx.sim.admin.advance(1_000);
      const url = ((await ctx.api.result(id)).body.output as { image: string }).image;
      const fresh = await download(url);

      // Act
      ctx.sim.admin.advance(30_001);
      const expired = await download(url);
      ctx.sim.admin.setKnobs({ output_expired_http: 403 });
      const forbidden = await download(url);

      // Assess
      expect(fresh.status).toBe(200);
      expect(expired.status).toBe(404);
      expect(forbidden.status).toBe(403);
      expect((await ctx.api.result(id)).body.status).toBe('succeeded');
    });

    it('the output_ttl_s script expires one job outputs', async () => {
      // Prepare
      const id = await ctx.api.submitOk(VALID_INPUT, { 'X-Sim-Script': 'output_ttl_s=2' });
      ctx.sim.admin.advance(1_000);
      const url = ((await ctx.api.result(id)).body.output as { image: string }).image;

      // Act
      ctx.sim.admin.advance(2_001);

      // Assess
      expect((await download(url)).status).toBe(404);
    });
  });

  it('counts every upstream call per endpoint, including injected failures', async () => {
    // Prepare
    const id = await ctx.api.submitOk();
    ctx.sim.admin.failNext({ endpoint: 'status', status: 503 });
    await ctx.api.status(id);
    await ctx.api.status(id);
    await ctx.api.result(id);
    await ctx.api.cancel(id);
    await ctx.api.raw('GET', '/v1/nowhere');

    // Act
    const stats = ctx.sim.admin.stats();

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
