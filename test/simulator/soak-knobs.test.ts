import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KnobsSchema } from '../../simulator/knobs.ts';
import { download, useManualSimulator, VALID_INPUT } from './helpers.ts';

/**
 * The knobs a fault soak turns on (all off by default), the account concurrency limit, the hold
 * token, and the books a soak checks its invariants against.
 */
describe('Simulator: soak knobs and books', () => {
  const ctx = useManualSimulator();

  it('keeps every soak knob off by default', () => {
    const defaults = KnobsSchema.parse({});
    expect(defaults).toMatchObject({
      p_rate_limited: 0,
      p_cancel_5xx: 0,
      p_slow: 0,
      p_submit_drop_after: 0,
      p_file_reset: 0,
      p_file_not_ready: 0,
      p_stall: 0,
      p_long_run: 0,
      max_in_flight: null,
      hold_token: '__HOLD__',
    });
  });

  it('answers any /v1 call 429 with Retry-After at p_rate_limited = 1, and counts it', async () => {
    const id = await ctx.api.submitOk();
    ctx.sim.admin.setKnobs({ p_rate_limited: 1 });

    const answers = [
      await ctx.api.status(id),
      await ctx.api.result(id),
      await ctx.api.cancel(id),
      await ctx.api.submit(),
    ];

    expect(answers.map((answer) => answer.status)).toEqual([429, 429, 429, 429]);
    expect(answers[0]!.body).toMatchObject({ error_code: 429001 });
    expect(answers[0]!.headers.get('retry-after')).toBe('1');
    expect(ctx.sim.admin.stats().injected.rate_limited).toBe(4);
  });

  it('answers cancels 5xx at p_cancel_5xx = 1', async () => {
    const id = await ctx.api.submitOk();
    ctx.sim.admin.setKnobs({ p_cancel_5xx: 1 });
    expect([500, 502, 503]).toContain((await ctx.api.cancel(id)).status);
  });

  it('creates the job and loses the answer at p_submit_drop_after = 1', async () => {
    ctx.sim.admin.setKnobs({ p_submit_drop_after: 1 });
    await expect(ctx.api.submit()).rejects.toThrow();
    const [job] = ctx.sim.admin.jobs();
    expect(job?.script).toMatchObject({ drop_response: true });
    expect(ctx.sim.admin.stats().injected.submit_dropped_after_commit).toBe(1);
  });

  it('refuses a submit beyond the account’s concurrency (max_in_flight), creating nothing', async () => {
    ctx.sim.admin.setKnobs({ max_in_flight: 2, workers: 2 });
    const first = await ctx.api.submitOk();
    await ctx.api.submitOk();

    const refused = await ctx.api.submit();
    ctx.sim.admin.advance(1_000); // both run and finish
    const accepted = await ctx.api.submit();

    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error_code: 429001 });
    expect(accepted.status).toBe(200);
    expect(ctx.sim.admin.jobs()).toHaveLength(3);
    const books = ctx.sim.admin.stats();
    expect(books.injected.concurrency_limited).toBe(1);
    const user = books.concurrency.u1!;
    expect(user.max_in_flight).toBe(2);
    expect(user.in_flight).toBe(1);
    // Two jobs in flight for one simulated second: 2,000 job-milliseconds so far.
    expect(user.in_flight_ms_integral).toBe(2_000);
    expect(ctx.sim.admin.job(first)?.state).toBe('succeeded');
  });

  it('holds a job queued with the hold token, until a cancel', async () => {
    const id = await ctx.api.submitOk({ ...VALID_INPUT, prompt: 'wait for me __HOLD__' });
    ctx.sim.admin.advance(60_000);
    expect((await ctx.api.status(id)).body).toMatchObject({ status: 'in_queue' });
    expect((await ctx.api.cancel(id)).body).toMatchObject({ outcome: 'cancelled' });
  });

  it('never finishes a job at p_stall = 1, and runs one long_run_s at p_long_run = 1', async () => {
    ctx.sim.admin.setKnobs({ p_stall: 1 });
    const stalled = await ctx.api.submitOk();
    ctx.sim.admin.setKnobs({ p_stall: 0, p_long_run: 1, long_run_s: 30 });
    const long = await ctx.api.submitOk();

    ctx.sim.admin.advance(10_000);
    expect(ctx.sim.admin.job(stalled)?.state).toBe('running');
    expect(ctx.sim.admin.job(long)?.state).toBe('running');
    ctx.sim.admin.advance(25_000);
    expect(ctx.sim.admin.job(stalled)?.state).toBe('running');
    expect(ctx.sim.admin.job(long)?.state).toBe('succeeded');
  });

  it('answers 404 for a job’s files until file_not_ready_s after it finished, then serves them', async () => {
    ctx.sim.admin.setKnobs({ p_file_not_ready: 1, file_not_ready_s: 5 });
    const id = await ctx.api.submitOk();
    ctx.sim.admin.advance(1_000);
    const url = ctx.sim.admin.job(id)!.output_urls[0]!;

    const early = await download(url);
    ctx.sim.admin.advance(5_001);
    const ready = await download(url);

    expect(early.status).toBe(404);
    expect(ready.status).toBe(200);
  });

  it('resets a download mid-body at p_file_reset = 1', async () => {
    const id = await ctx.api.submitOk();
    ctx.sim.admin.advance(1_000);
    ctx.sim.admin.setKnobs({ p_file_reset: 1 });
    await expect(download(ctx.sim.admin.job(id)!.output_urls[0]!)).rejects.toThrow();
    expect(ctx.sim.admin.stats().injected.file_reset).toBe(1);
  });

  it('books each output’s exact bytes: URL, size and SHA-256 as served', async () => {
    const id = await ctx.api.submitOk();
    ctx.sim.admin.advance(1_000);

    const [book] = await ctx.sim.admin.outputs(id);
    const served = await download(book!.url);

    expect(book!.bytes).toBe(served.bytes.length);
    expect(book!.sha256).toBe(createHash('sha256').update(served.bytes).digest('hex'));
    expect(ctx.sim.admin.stats().charged_usd).toBeCloseTo(0.01);
  });
});
