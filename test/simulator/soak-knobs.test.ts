import { get } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import { KnobsSchema } from '../../simulator/knobs.ts';
import { adminHttp, apiClient, download, useManualSimulator, VALID_INPUT } from './helpers.ts';

/**
 * The knobs a fault soak and an admission-control benchmark turn on (all off by default): random
 * 429s and 5xx on every API call, slow answers, lost submit answers, downloads reset mid-body,
 * files not ready yet, stalled and long runs, the account's concurrency limit, and the hold token.
 */

/** A GET that reports how much of the body arrived before the connection ended. */
function partialGet(
  url: string,
): Promise<{ status: number; length: number; received: number; complete: boolean }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      res.on('error', () => {}); // "aborted": reported through `complete` below
      res.on('close', () =>
        resolve({
          status: res.statusCode ?? 0,
          length: Number(res.headers['content-length']),
          received,
          complete: res.complete,
        }),
      );
    }).on('error', reject);
  });
}

describe('Simulator: soak knobs', () => {
  const ctx = useManualSimulator();

  /** Runs a job to success (1 s of sim time) and returns its id and first output URL. */
  async function finishedJob(input: unknown = VALID_INPUT): Promise<{ id: string; url: string }> {
    const id = await ctx.api.submitOk(input);
    ctx.sim.admin.advance(1_000);
    return { id, url: ctx.sim.admin.job(id)!.output_urls[0]! };
  }

  describe('Defaults', () => {
    it('keeps every existing default, and every soak knob off', () => {
      // Act
      const defaults = KnobsSchema.parse({});

      // Assess
      expect(defaults).toEqual({
        tokens: { 'sim-token': 'u1' },
        balance_usd: null,
        price_per_request_usd: 0.01,
        charge_failed: false,
        clock_mode: 'timed',
        polls_per_state: 1,
        queue_delay_s: 0.5,
        run_delay_s: 2,
        workers: 1,
        queue_position_base: 0,
        record_ttl_s: null,
        output_ttl_s: 604_800,
        output_expired_http: 404,
        output_key: 'image',
        output_count: 1,
        output_min_bytes: 0,
        status_on_failure: 'completed',
        result_success_status: 'succeeded',
        cancel_status_field: 'cancelled',
        error_shape: 'object',
        error_message: 'Simulated generation failure',
        error_body_style: 'default',
        auth_error_http: 400,
        unknown_model_http: 400,
        insufficient_http: 400,
        http200_error_quirk: false,
        drop_urls_in_submit: false,
        close_connection_on_submit_after_commit: false,
        latency_ms: 0,
        p_fail: 0,
        p_status_5xx: 0,
        p_submit_5xx: 0,
        random_seed: 1,
        rate_limit: null,
        send_retry_after: true,
        retry_after_s: 1,
        fail_token: '__FAIL__',
        stall_token: '__STALL__',
        allow_http_inputs: false,
        allow_data_uris: true,
        truncate_extra_images: false,
        allow_custom_size: false,
        reject_unknown_keys: false,
        fetch_inputs: false,
        // New, all off:
        p_rate_limited: 0,
        p_cancel_5xx: 0,
        p_slow: 0,
        slow_ms: 0,
        p_submit_drop_after: 0,
        p_file_reset: 0,
        p_file_not_ready: 0,
        file_not_ready_s: 0,
        p_stall: 0,
        p_long_run: 0,
        long_run_s: 0,
        max_in_flight: null,
        hold_token: '__HOLD__',
      });
    });

    it('injects nothing with the defaults: every call answers as before and the books show no fault', async () => {
      // Act
      const submitted = await ctx.api.submit();
      const id = submitted.body.request_id as string;
      const answers = [(await ctx.api.status(id)).status, (await ctx.api.result(id)).status];
      ctx.sim.admin.advance(1_000);
      const file = await download(ctx.sim.admin.job(id)!.output_urls[0]!);
      const cancel = await ctx.api.cancel(id);

      // Assess
      expect([submitted.status, ...answers, file.status, cancel.status]).toEqual([200, 200, 200, 200, 202]);
      const stats = ctx.sim.admin.stats();
      expect(stats.injected).toEqual({});
      expect(stats.submits).toEqual({ accepted: 1, refused_concurrency_limit: 0 });
      expect(ctx.sim.admin.job(id)).toMatchObject({ state: 'succeeded', submit_answer_dropped: false });
    });

    it('validates the new knobs at start and on PATCH /__sim/knobs', async () => {
      // Act
      const patched = await adminHttp(ctx.sim, 'PATCH', '/knobs', {
        p_rate_limited: 0.05,
        p_slow: 0.1,
        slow_ms: 2_000,
        max_in_flight: 24,
        hold_token: '__WAIT__',
      });
      const refused = await Promise.all(
        [
          { p_rate_limited: 1.5 },
          { p_file_reset: -0.1 },
          { slow_ms: 1.5 },
          { max_in_flight: 0 },
          { long_run_s: -1 },
          { hold_token: '' },
        ].map((patch) => adminHttp(ctx.sim, 'PATCH', '/knobs', patch)),
      );
      const unlimited = await adminHttp(ctx.sim, 'PATCH', '/knobs', { max_in_flight: null });

      // Assess
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ p_rate_limited: 0.05, max_in_flight: 24, hold_token: '__WAIT__' });
      expect(refused.map((answer) => answer.status)).toEqual([400, 400, 400, 400, 400, 400]);
      expect(unlimited.body).toMatchObject({ max_in_flight: null, p_slow: 0.1 });
      expect(() => KnobsSchema.parse({ p_stall: 2 })).toThrow();
    });
  });

  describe('Knob: p_rate_limited', () => {
    it('answers every API call 429 / 429001 with Retry-After; a refused submit creates nothing', async () => {
      // Prepare
      const id = await ctx.api.submitOk();
      ctx.sim.admin.setKnobs({ p_rate_limited: 1, retry_after_s: 4 });

      // Act
      const answers = [
        await ctx.api.submit(),
        await ctx.api.status(id),
        await ctx.api.result(id),
        await ctx.api.cancel(id),
        await ctx.api.raw('GET', '/v1/models'),
      ];

      // Assess
      expect(answers.map((answer) => answer.status)).toEqual([429, 429, 429, 429, 429]);
      for (const answer of answers) {
        expect(answer.body).toMatchObject({ error_code: 429001 });
        expect(answer.headers.get('retry-after')).toBe('4');
      }
      expect(ctx.sim.admin.jobs()).toHaveLength(1);
      expect(ctx.sim.admin.job(id)?.state).toBe('running'); // the cancel did nothing
      expect(ctx.sim.admin.stats().injected).toEqual({ rate_limited: 5 });
    });

    it('leaves out Retry-After without send_retry_after, and leaves output files alone', async () => {
      // Prepare
      const { id, url } = await finishedJob();
      ctx.sim.admin.setKnobs({ p_rate_limited: 1, send_retry_after: false });

      // Act
      const status = await ctx.api.status(id);
      const file = await download(url);

      // Assess
      expect(status.status).toBe(429);
      expect(status.headers.get('retry-after')).toBeNull();
      expect(file.status).toBe(200);
    });

    it('draws from the seeded PRNG: the same seed replays the same answers', async () => {
      // Prepare
      const knobs = { p_rate_limited: 0.5, random_seed: 7 };
      const run = async () => {
        ctx.sim.admin.reset({ knobs });
        const id = (await ctx.api.submit()).body.request_id as string | undefined;
        const statuses: number[] = [];
        for (let i = 0; i < 16; i++) statuses.push((await ctx.api.status(id ?? 'x')).status);
        return statuses;
      };

      // Act
      const first = await run();
      const second = await run();

      // Assess
      expect(second).toEqual(first);
      expect(first).toContain(429);
      expect(first.some((status) => status !== 429)).toBe(true);
    });
  });

  describe('Knobs: p_submit_5xx, p_status_5xx, p_cancel_5xx (5xx on every API call)', () => {
    it('fails submits (nothing created), status and result polls, and cancels (job untouched)', async () => {
      // Prepare
      ctx.sim.admin.setKnobs({ queue_delay_s: 60 });
      const id = await ctx.api.submitOk();
      ctx.sim.admin.setKnobs({ p_submit_5xx: 1, p_status_5xx: 1, p_cancel_5xx: 1 });

      // Act
      const answers = [
        await ctx.api.submit(),
        await ctx.api.status(id),
        await ctx.api.result(id),
        await ctx.api.cancel(id),
      ];

      // Assess
      for (const answer of answers) {
        expect([500, 502, 503]).toContain(answer.status);
        expect(answer.body).toMatchObject({ error_code: 500001 });
      }
      expect(ctx.sim.admin.jobs()).toHaveLength(1);
      expect(ctx.sim.admin.job(id)?.state).toBe('queued');
      expect(ctx.sim.admin.stats().injected).toEqual({
        submit_5xx: 1,
        status_5xx: 1,
        result_5xx: 1,
        cancel_5xx: 1,
      });
    });
  });

  describe('Knob: p_slow', () => {
    it('holds a drawn answer back slow_ms (real time) while others pass it', async () => {
      // Prepare
      const id = await ctx.api.submitOk();
      ctx.sim.admin.setKnobs({ p_slow: 1, slow_ms: 1_000 });
      let slowAnswered = false;
      const slow = ctx.api.status(id).then((answer) => {
        slowAnswered = true;
        return answer;
      });
      await vi.waitFor(() => expect(ctx.sim.admin.stats().injected.slow).toBe(1));
      ctx.sim.admin.setKnobs({ p_slow: 0 });

      // Act
      const fast = await ctx.api.status(id);

      // Assess
      expect(fast.status).toBe(200);
      expect(slowAnswered).toBe(false);
      expect((await slow).body).toMatchObject({ request_id: id, status: 'in_progress' });
    });
  });

  describe('Knob: p_submit_drop_after', () => {
    it('creates (and books) the job, then loses the answer', async () => {
      // Prepare
      ctx.sim.admin.setKnobs({ p_submit_drop_after: 1 });

      // Act
      const attempt = ctx.api.submit();

      // Assess
      await expect(attempt).rejects.toThrow();
      const [job] = ctx.sim.admin.jobs();
      expect(job).toMatchObject({ state: 'running', submit_calls: 1, submit_answer_dropped: true });
      const stats = ctx.sim.admin.stats();
      expect(stats.submits.accepted).toBe(1);
      expect(stats.injected).toEqual({ submit_dropped_after_commit: 1 });
      expect(stats.by_endpoint_status['submit dropped']).toBe(1);
    });
  });

  describe('Knob: p_file_reset', () => {
    it('sends the headers and half the body, then resets; the next download is whole', async () => {
      // Prepare
      const { id, url } = await finishedJob();
      ctx.sim.admin.setKnobs({ p_file_reset: 1 });

      // Act
      const cut = await partialGet(url);
      ctx.sim.admin.setKnobs({ p_file_reset: 0 });
      const whole = await download(url);

      // Assess
      expect(cut.status).toBe(200);
      expect(cut.complete).toBe(false);
      expect(cut.length).toBe(whole.bytes.length);
      expect(cut.received).toBeLessThan(cut.length);
      const stats = ctx.sim.admin.stats();
      expect(stats.injected).toEqual({ file_reset: 1 });
      expect(stats.by_endpoint_status['file dropped']).toBe(1);
      expect(stats.file_bytes_served).toBe(Math.floor(whole.bytes.length / 2) + whole.bytes.length);
      expect(ctx.sim.admin.job(id)?.outputs[0]?.downloads).toBe(1);
    });

    it('never cuts HEAD answers or error pages', async () => {
      // Prepare
      const { url } = await finishedJob();
      ctx.sim.admin.setKnobs({ p_file_reset: 1 });

      // Act
      const head = await download(url, 'HEAD');
      const missing = await download(url.replace(/\/0\./, '/9.'));

      // Assess
      expect(head.status).toBe(200);
      expect(missing.status).toBe(404);
      expect(ctx.sim.admin.stats().injected).toEqual({});
    });
  });

  describe('Knob: p_file_not_ready, script file_not_ready_s', () => {
    it('answers 404 (as for an unknown file) until file_not_ready_s after the run finished', async () => {
      // Prepare
      ctx.sim.admin.setKnobs({ p_file_not_ready: 1, file_not_ready_s: 5 });
      const { url } = await finishedJob();
      const unknown = await download(url.replace(/\/0\./, '/9.'));

      // Act
      const early = await download(url);
      const earlyHead = await download(url, 'HEAD');
      ctx.sim.admin.advance(4_999);
      const almost = await download(url);
      ctx.sim.admin.advance(1);
      const ready = await download(url);

      // Assess
      expect([early.status, earlyHead.status, almost.status, ready.status]).toEqual([404, 404, 404, 200]);
      expect(early.bytes).toEqual(unknown.bytes);
      expect(early.headers.get('content-type')).toBe(unknown.headers.get('content-type'));
      expect(ctx.sim.admin.stats().injected).toEqual({ job_file_not_ready: 1, file_not_ready: 3 });
    });

    it('takes file_not_ready_s from a job’s script (prompt block or header)', async () => {
      // Prepare
      const fromPrompt = await finishedJob({ ...VALID_INPUT, prompt: 'red cup [sim: file_not_ready_s=2]' });
      const headerId = await ctx.api.submitOk(VALID_INPUT, { 'X-Sim-Script': 'file_not_ready_s=10' });
      ctx.sim.admin.advance(1_000);
      const fromHeader = ctx.sim.admin.job(headerId)!.output_urls[0]!;

      // Act
      const both = [(await download(fromPrompt.url)).status, (await download(fromHeader)).status];
      ctx.sim.admin.advance(2_000);
      const later = [(await download(fromPrompt.url)).status, (await download(fromHeader)).status];

      // Assess
      expect(both).toEqual([404, 404]);
      expect(later).toEqual([200, 404]);
      expect(ctx.sim.admin.job(headerId)?.script).toMatchObject({ file_not_ready_s: 10 });
    });
  });

  describe('Knobs: p_stall, p_long_run, p_fail (drawn at submit)', () => {
    it('never finishes a stalled job; a long run outlasts a deadline, then succeeds', async () => {
      // Prepare
      ctx.sim.admin.setKnobs({ p_stall: 1, workers: 2 });
      const stalled = await ctx.api.submitOk();
      ctx.sim.admin.setKnobs({ p_stall: 0, p_long_run: 1, long_run_s: 300 });
      const long = await ctx.api.submitOk(VALID_INPUT, { 'X-Sim-Script': 'run_s=1' });

      // Act
      ctx.sim.admin.advance(299_999);
      const during = [(await ctx.api.status(stalled)).body.status, (await ctx.api.status(long)).body.status];
      ctx.sim.admin.advance(1);
      const after = [(await ctx.api.status(stalled)).body.status, (await ctx.api.result(long)).body.status];

      // Assess
      expect(during).toEqual(['in_progress', 'in_progress']);
      expect(after).toEqual(['in_progress', 'succeeded']);
      expect(ctx.sim.admin.job(stalled)?.script).toMatchObject({ stall: true });
      expect(ctx.sim.admin.stats().injected).toEqual({ job_stall: 1, job_long_run: 1 });
    });

    it('books the runs p_fail fails', async () => {
      // Prepare
      ctx.sim.admin.setKnobs({ p_fail: 1 });

      // Act
      const { id } = await finishedJob();

      // Assess
      expect((await ctx.api.result(id)).body).toMatchObject({ status: 'failed' });
      expect(ctx.sim.admin.stats().injected).toEqual({ job_fail: 1 });
    });
  });

  describe('Knob: max_in_flight (the account’s concurrency)', () => {
    it('answers 429 / 429001 with Retry-After beyond the limit, creating nothing, until a slot frees', async () => {
      // Prepare
      ctx.sim.admin.setKnobs({ max_in_flight: 2, workers: 2, retry_after_s: 3 });
      await ctx.api.submitOk();
      const queued = await ctx.api.submitOk({ ...VALID_INPUT, prompt: 'wait __HOLD__' });

      // Act
      const refused = await ctx.api.submit();
      ctx.sim.admin.advance(1_000); // the first finishes
      const afterFinish = await ctx.api.submit();
      const refusedAgain = await ctx.api.submit();
      await ctx.api.cancel(queued);
      const afterCancel = await ctx.api.submit();

      // Assess
      expect(refused.status).toBe(429);
      expect(refused.body).toMatchObject({ error_code: 429001, error: 'RateLimitExceeded' });
      expect(refused.headers.get('retry-after')).toBe('3');
      expect([afterFinish.status, refusedAgain.status, afterCancel.status]).toEqual([200, 429, 200]);
      expect(ctx.sim.admin.jobs()).toHaveLength(4);
      const stats = ctx.sim.admin.stats();
      expect(stats.submits).toEqual({ accepted: 4, refused_concurrency_limit: 2 });
      expect(stats.injected).toEqual({});
      expect(stats.concurrency.u1).toMatchObject({ in_flight: 2, max_in_flight: 2 });
    });

    it('counts stalled jobs, limits each user apart, and stays a 429 under http200_error_quirk', async () => {
      // Prepare
      ctx.sim.admin.setKnobs({
        max_in_flight: 1,
        tokens: { 'sim-token': 'u1', 'other-token': 'u2' },
        http200_error_quirk: true,
        send_retry_after: false,
      });
      const other = apiClient(ctx.sim, 'other-token');
      await ctx.api.submitOk({ ...VALID_INPUT, prompt: 'stuck __STALL__' });
      ctx.sim.admin.advance(3_600_000);

      // Act
      const refused = await ctx.api.submit();
      const otherUser = await other.submit();

      // Assess
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBeNull();
      expect(otherUser.status).toBe(200);
      expect(ctx.sim.admin.stats().concurrency).toMatchObject({
        u1: { in_flight: 1 },
        u2: { in_flight: 1 },
      });
    });

    it('checks the limit after the input (a bad input still answers 422)', async () => {
      // Prepare
      ctx.sim.admin.setKnobs({ max_in_flight: 1 });
      await ctx.api.submitOk();

      // Act
      const invalid = await ctx.api.submit({ prompt: '' });

      // Assess
      expect(invalid.status).toBe(422);
    });
  });

  describe('Holding a job queued: hold_token, [sim: hold], [sim: queue_s=…]', () => {
    it('keeps a __HOLD__ job queued while later jobs run, until a cancel', async () => {
      // Prepare
      const held = await ctx.api.submitOk({ ...VALID_INPUT, prompt: 'wait for me __HOLD__' });
      const next = await ctx.api.submitOk();

      // Act
      ctx.sim.admin.advance(3_600_000);
      const status = await ctx.api.status(held);
      const cancelled = await ctx.api.cancel(held);

      // Assess
      expect(status.body).toMatchObject({ status: 'in_queue', queue_position: 0 });
      expect(ctx.sim.admin.job(next)?.state).toBe('succeeded');
      expect(cancelled.body).toMatchObject({ outcome: 'cancelled', status: 'cancelled' });
      expect(ctx.sim.admin.job(held)).toMatchObject({ state: 'cancelled', charged_usd: 0 });
    });

    it('releases a held job on an admin transition, and honours [sim: hold] and the hold_token knob', async () => {
      // Prepare
      ctx.sim.admin.setKnobs({ hold_token: '<<wait>>' });
      const byBlock = await ctx.api.submitOk({ ...VALID_INPUT, prompt: 'red cup [sim: hold]' });
      const byToken = await ctx.api.submitOk({ ...VALID_INPUT, prompt: 'red cup <<wait>>' });
      const oldToken = await ctx.api.submitOk({ ...VALID_INPUT, prompt: 'red cup __HOLD__' });
      ctx.sim.admin.advance(60_000);
      const states = [byBlock, byToken, oldToken].map((id) => ctx.sim.admin.job(id)?.state);

      // Act
      ctx.sim.admin.transition(byBlock, 'running');
      ctx.sim.admin.advance(1_000);

      // Assess
      expect(states).toEqual(['queued', 'queued', 'succeeded']);
      expect(ctx.sim.admin.job(byBlock)?.state).toBe('succeeded');
      expect(ctx.sim.admin.job(byToken)?.state).toBe('queued');
    });

    it('holds in polls clock mode too', async () => {
      // Prepare
      ctx.sim.admin.setKnobs({ clock_mode: 'polls' });
      const held = await ctx.api.submitOk({ ...VALID_INPUT, prompt: '__HOLD__' });

      // Act
      for (let i = 0; i < 5; i++) await ctx.api.status(held);

      // Assess
      expect((await ctx.api.status(held)).body.status).toBe('in_queue');
    });

    it('keeps a [sim: queue_s=600] job queued for ten minutes, then runs it', async () => {
      // Prepare
      const id = await ctx.api.submitOk({ ...VALID_INPUT, prompt: 'red cup [sim: queue_s=600]' });

      // Act
      ctx.sim.admin.advance(599_999);
      const before = (await ctx.api.status(id)).body.status;
      ctx.sim.admin.advance(1);
      const after = (await ctx.api.status(id)).body.status;

      // Assess
      expect([before, after]).toEqual(['in_queue', 'in_progress']);
    });
  });
});
