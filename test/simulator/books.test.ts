import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { adminHttp, apiClient, download, useManualSimulator, VALID_INPUT } from './helpers.ts';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/**
 * The books a soak checks its invariants against and a benchmark reads its utilisation from:
 * per job (submit calls, lost submit answers, state, charge, output digests), totals (submits,
 * injected faults, charges) and the upstream concurrency per user.
 */
describe('Simulator: books (admin.jobs, admin.stats)', () => {
  const ctx = useManualSimulator();

  describe('Per job', () => {
    it('books one submit call per job, its state and charge, and whether its answer was lost', async () => {
      // Prepare
      const succeeded = await ctx.api.submitOk();
      const failed = await ctx.api.submitOk({ ...VALID_INPUT, prompt: 'red __FAIL__' });
      const cancelled = await ctx.api.submitOk({ ...VALID_INPUT, prompt: 'red __HOLD__' });
      await expect(
        ctx.api.submit(VALID_INPUT, { headers: { 'X-Sim-Script': 'drop_response' } }),
      ).rejects.toThrow();
      ctx.sim.admin.failNext({ endpoint: 'submit', drop: 'after' });
      await expect(ctx.api.submit()).rejects.toThrow();
      ctx.sim.admin.setKnobs({ close_connection_on_submit_after_commit: true });
      await expect(ctx.api.submit()).rejects.toThrow();
      ctx.sim.admin.setKnobs({ close_connection_on_submit_after_commit: false });

      // Act
      await ctx.api.cancel(cancelled);
      ctx.sim.admin.advance(10_000);
      const jobs = ctx.sim.admin.jobs();

      // Assess
      expect(jobs.map((job) => job.submit_calls)).toEqual([1, 1, 1, 1, 1, 1]);
      expect(jobs.map((job) => job.submit_answer_dropped)).toEqual([false, false, false, true, true, true]);
      expect(jobs.slice(0, 3).map((job) => [job.request_id, job.state, job.charged_usd])).toEqual([
        [succeeded, 'succeeded', 0.01],
        [failed, 'failed', 0],
        [cancelled, 'cancelled', 0],
      ]);
      const stats = ctx.sim.admin.stats();
      expect(stats.injected).toEqual({ submit_dropped_after_commit: 3 });
      expect(stats.submits.accepted).toBe(6);
      expect(stats.charged_usd).toBe(0.04);
    });

    it('books each output file as served: URL, size, SHA-256 of the exact bytes, downloads', async () => {
      // Prepare
      ctx.sim.admin.setKnobs({ output_count: 2 });
      const id = await ctx.api.submitOk();
      ctx.sim.admin.advance(1_000);
      const before = ctx.sim.admin.job(id)!.outputs;

      // Act
      const first = await download(before[0]!.url);
      await download(before[0]!.url);
      await download(before[0]!.url, 'HEAD');
      const after = ctx.sim.admin.job(id)!.outputs;

      // Assess
      expect(before).toEqual([
        { url: expect.stringMatching(/\/0\.png$/), bytes: null, sha256: null, downloads: 0 },
        { url: expect.stringMatching(/\/1\.png$/), bytes: null, sha256: null, downloads: 0 },
      ]);
      expect(after[0]).toEqual({
        url: before[0]!.url,
        bytes: first.bytes.length,
        sha256: sha256(first.bytes),
        downloads: 2,
      });
      expect(after[1]).toMatchObject({ sha256: null, downloads: 0 });
    });

    it('renders the digests of files nobody downloaded on admin.outputs / GET /__sim/jobs/{id}/outputs', async () => {
      // Prepare
      const id = await ctx.api.submitOk({ ...VALID_INPUT, output_format: 'webp' });
      const queued = await ctx.api.submitOk({ ...VALID_INPUT, prompt: 'red __HOLD__' });
      ctx.sim.admin.advance(1_000);

      // Act
      const inProcess = await ctx.sim.admin.outputs(id);
      const overHttp = await adminHttp(ctx.sim, 'GET', `/jobs/${id}/outputs`);
      const none = await ctx.sim.admin.outputs(queued);
      const served = await download(inProcess[0]!.url);

      // Assess
      expect(inProcess).toEqual([
        {
          url: expect.stringMatching(/\/0\.webp$/),
          bytes: served.bytes.length,
          sha256: sha256(served.bytes),
          downloads: 0,
        },
      ]);
      expect(overHttp.body).toEqual({ outputs: inProcess });
      expect(none).toEqual([]);
      expect((await adminHttp(ctx.sim, 'GET', '/jobs/nope/outputs')).status).toBe(404);
    });

    it('shows the same books over HTTP (GET /__sim/jobs, /__sim/jobs/{id})', async () => {
      // Prepare
      const id = await ctx.api.submitOk();
      ctx.sim.admin.advance(1_000);
      await download(ctx.sim.admin.job(id)!.output_urls[0]!);

      // Act
      const listed = await adminHttp(ctx.sim, 'GET', '/jobs');
      const one = await adminHttp(ctx.sim, 'GET', `/jobs/${id}`);

      // Assess
      expect(listed.body.jobs).toEqual([ctx.sim.admin.job(id)]);
      expect(one.body).toMatchObject({
        state: 'succeeded',
        charged_usd: 0.01,
        submit_calls: 1,
        submit_answer_dropped: false,
        outputs: [
          { bytes: expect.any(Number), sha256: expect.stringMatching(/^[0-9a-f]{64}$/), downloads: 1 },
        ],
      });
    });
  });

  describe('Totals', () => {
    it('counts every injected fault by kind, fail-next rules and the rate-limit window included', async () => {
      // Prepare
      const id = await ctx.api.submitOk();
      ctx.sim.admin.failNext({ endpoint: 'status', status: 503 });
      ctx.sim.admin.failNext({ endpoint: 'result', drop: 'before' });
      ctx.sim.admin.failNext({ endpoint: 'cancel', drop: 'after' });

      // Act
      await ctx.api.status(id);
      await expect(ctx.api.result(id)).rejects.toThrow();
      await expect(ctx.api.cancel(id)).rejects.toThrow();
      ctx.sim.admin.clearFaults(); // the books stay
      ctx.sim.admin.setKnobs({ rate_limit: { requests: 1, window_s: 60 } });
      await ctx.api.status(id);
      const limited = await ctx.api.status(id);

      // Assess
      expect(limited.status).toBe(429);
      expect(ctx.sim.admin.stats().injected).toEqual({ fail_next: 1, fail_next_drop: 2, rate_limit: 1 });
    });

    it('sums charges exactly, failed runs included when charge_failed', async () => {
      // Prepare
      ctx.sim.admin.setKnobs({ charge_failed: true, price_per_request_usd: 0.1, workers: 3 });

      // Act
      await ctx.api.submitOk();
      await ctx.api.submitOk();
      await ctx.api.submitOk({ ...VALID_INPUT, prompt: 'red __FAIL__' });
      ctx.sim.admin.advance(1_000);

      // Assess
      expect(ctx.sim.admin.stats().charged_usd).toBe(0.3);
      expect((await adminHttp(ctx.sim, 'GET', '/stats')).body).toMatchObject({
        charged_usd: 0.3,
        submits: { accepted: 3, refused_concurrency_limit: 0 },
      });
    });

    it('starts again on a stats reset (jobs and their books stay) and on a reset', async () => {
      // Prepare
      const id = await ctx.api.submitOk();
      ctx.sim.admin.advance(1_000);
      ctx.sim.admin.setKnobs({ p_rate_limited: 1 });
      await ctx.api.status(id);

      // Act
      const before = ctx.sim.admin.stats();
      await adminHttp(ctx.sim, 'DELETE', '/stats');
      const after = ctx.sim.admin.stats();

      // Assess
      expect(before).toMatchObject({
        charged_usd: 0.01,
        injected: { rate_limited: 1 },
        submits: { accepted: 1 },
      });
      expect(after).toMatchObject({ total: 0, charged_usd: 0, injected: {}, submits: { accepted: 0 } });
      expect(ctx.sim.admin.job(id)?.charged_usd).toBe(0.01);
      ctx.sim.admin.reset();
      expect(ctx.sim.admin.stats()).toMatchObject({ concurrency: {}, jobs_created: 0 });
    });
  });

  describe('Concurrency', () => {
    it('books jobs in flight per user, the most at once, and their time integral over the measured span', async () => {
      // Prepare
      ctx.sim.admin.setKnobs({ workers: 2, tokens: { 'sim-token': 'u1', 'other-token': 'u2' } });
      const since = ctx.sim.admin.now();
      await ctx.api.submitOk();
      await ctx.api.submitOk({ ...VALID_INPUT, prompt: 'red [sim: run_s=3]' });
      ctx.sim.admin.advance(500);
      await apiClient(ctx.sim, 'other-token').submitOk({ ...VALID_INPUT, prompt: 'red __HOLD__' });

      // Act
      ctx.sim.admin.advance(3_500); // u1: 2 jobs for 1 s, then 1 for 2 s; u2: 1 job for 3.5 s
      const { concurrency } = ctx.sim.admin.stats();

      // Assess
      expect(concurrency).toEqual({
        u1: { in_flight: 0, max_in_flight: 2, in_flight_ms_integral: 4_000, since, measured_ms: 4_000 },
        u2: { in_flight: 1, max_in_flight: 1, in_flight_ms_integral: 3_500, since, measured_ms: 4_000 },
      });
      // A bench with a limit of 2: utilisation = integral / (limit × measured).
      const u1 = concurrency.u1!;
      expect(u1.in_flight_ms_integral / (2 * u1.measured_ms)).toBe(0.5);
    });

    it('measures from a stats reset on, keeping the jobs still in flight', async () => {
      // Prepare
      await ctx.api.submitOk({ ...VALID_INPUT, prompt: 'red [sim: run_s=10]' });
      ctx.sim.admin.advance(4_000);
      ctx.sim.admin.resetStats();
      const since = ctx.sim.admin.now();

      // Act
      ctx.sim.admin.advance(2_000);

      // Assess
      expect(ctx.sim.admin.stats().concurrency.u1).toEqual({
        in_flight: 1,
        max_in_flight: 1,
        in_flight_ms_integral: 2_000,
        since,
        measured_ms: 2_000,
      });
    });

    it('counts queued jobs and frees the slot of a cancelled or force-finished one', async () => {
      // Prepare
      ctx.sim.admin.setKnobs({ queue_delay_s: 60 });
      const a = await ctx.api.submitOk();
      const b = await ctx.api.submitOk();
      ctx.sim.admin.advance(1_000);

      // Act
      await ctx.api.cancel(a);
      ctx.sim.admin.advance(1_000);
      ctx.sim.admin.transition(b, 'succeeded');
      ctx.sim.admin.advance(1_000);

      // Assess
      expect(ctx.sim.admin.stats().concurrency.u1).toMatchObject({
        in_flight: 0,
        max_in_flight: 2,
        in_flight_ms_integral: 2 * 1_000 + 1_000,
      });
    });
  });
});
