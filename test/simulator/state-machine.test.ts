import { describe, expect, it } from 'vitest';
import type { JobState } from '../../simulator/index.ts';
import { useManualSimulator } from './helpers.ts';

const ORDER: Record<string, number> = { in_queue: 0, in_progress: 1, completed: 2, cancelled: 2 };

describe('Class: JobStore (state machine, via the wire)', () => {
  const ctx = useManualSimulator();

  it('runs jobs FIFO on one worker and decrements queue_position as jobs ahead start', async () => {
    // Prepare
    const ids = [
      await ctx.api.submitOk(),
      await ctx.api.submitOk(),
      await ctx.api.submitOk(),
      await ctx.api.submitOk(),
    ];
    const positions = async () =>
      Promise.all(ids.map(async (id) => (await ctx.api.status(id)).body.queue_position));

    // Act
    const atStart = await positions();
    ctx.sim.admin.advance(1_000);
    const afterOne = await positions();
    ctx.sim.admin.advance(1_000);
    const afterTwo = await positions();

    // Assess
    expect(atStart).toEqual([undefined, 0, 1, 2]);
    expect(afterOne).toEqual([undefined, undefined, 0, 1]);
    expect(afterTwo).toEqual([undefined, undefined, undefined, 0]);
    expect(ctx.sim.admin.jobs().map((job) => job.state)).toEqual([
      'succeeded',
      'succeeded',
      'running',
      'queued',
    ]);
  });

  it('applies queue_position_base', async () => {
    // Prepare
    ctx.sim.admin.setKnobs({ queue_position_base: 1, queue_delay_s: 1 });
    await ctx.api.submitOk();
    const second = await ctx.api.submitOk();

    // Act
    const response = await ctx.api.status(second);

    // Assess
    expect(response.body.queue_position).toBe(2);
  });

  it('runs `workers` jobs at once', async () => {
    // Prepare
    ctx.sim.admin.setKnobs({ workers: 2 });
    const ids = [await ctx.api.submitOk(), await ctx.api.submitOk(), await ctx.api.submitOk()];

    // Act
    const statuses = await Promise.all(ids.map(async (id) => (await ctx.api.status(id)).body.status));

    // Assess
    expect(statuses).toEqual(['in_progress', 'in_progress', 'in_queue']);
  });

  it('replays a long advance exactly: timestamps follow queue and run delays per worker', async () => {
    // Prepare
    ctx.sim.admin.setKnobs({ queue_delay_s: 0.5, run_delay_s: 2 });
    const ids = [await ctx.api.submitOk(), await ctx.api.submitOk()];

    // Act
    ctx.sim.admin.advance(60_000);

    // Assess
    const [first, second] = ids.map((id) => ctx.sim.admin.job(id)!);
    const ms = (iso: string | null) => Date.parse(iso!);
    expect(ms(first!.started_at) - ms(first!.created_at)).toBe(500);
    expect(ms(first!.finished_at) - ms(first!.started_at)).toBe(2_000);
    expect(ms(second!.started_at)).toBe(ms(first!.finished_at));
    expect(ms(second!.finished_at) - ms(second!.started_at)).toBe(2_000);
  });

  it('never reports an earlier state after a later one while polled through a whole run', async () => {
    // Prepare
    ctx.sim.admin.setKnobs({ queue_delay_s: 0.3, run_delay_s: 0.7 });
    const ids = [await ctx.api.submitOk(), await ctx.api.submitOk(), await ctx.api.submitOk()];
    const seen = new Map<string, number[]>(ids.map((id) => [id, []]));

    // Act
    for (let step = 0; step < 40; step++) {
      for (const id of ids) {
        const status = (await ctx.api.status(id)).body.status as string;
        const result = (await ctx.api.result(id)).body.status as string;
        seen.get(id)!.push(ORDER[status]!, result === 'in_queue' ? 0 : result === 'in_progress' ? 1 : 2);
      }
      ctx.sim.admin.advance(100);
    }

    // Assess
    for (const ranks of seen.values()) {
      expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
      expect(ranks.at(-1)).toBe(2);
    }
  });

  it('keeps terminal states: forced transitions out of them are refused', async () => {
    // Prepare
    const id = await ctx.api.submitOk();
    ctx.sim.admin.advance(1_000);

    // Act
    const attempts = (['running', 'failed', 'cancelled'] as JobState[]).map((to) => {
      try {
        ctx.sim.admin.transition(id, to);
        return 'allowed';
      } catch (error) {
        return (error as { code: string }).code;
      }
    });

    // Assess
    expect(attempts).toEqual(['TERMINAL_STATE', 'TERMINAL_STATE', 'TERMINAL_STATE']);
    expect((await ctx.api.result(id)).body.status).toBe('succeeded');
  });

  it('refuses backward forced transitions and applies forward ones at once', async () => {
    // Prepare
    ctx.sim.admin.setKnobs({ queue_delay_s: 100 });
    const id = await ctx.api.submitOk();

    // Act
    const running = ctx.sim.admin.transition(id, 'running');
    const backwards = (() => {
      try {
        ctx.sim.admin.transition(id, 'queued');
      } catch (error) {
        return (error as { code: string }).code;
      }
    })();
    const failed = ctx.sim.admin.transition(id, 'failed', { error_message: 'GPU on fire' });

    // Assess
    expect(running.status).toBe('in_progress');
    expect(backwards).toBe('BACKWARD_TRANSITION');
    expect(failed.state).toBe('failed');
    expect((await ctx.api.result(id)).body).toMatchObject({
      status: 'failed',
      error: { error_message: 'GPU on fire' },
    });
  });

  it('a cancelled job never runs and frees its place in the queue', async () => {
    // Prepare
    const [a, b, c] = [await ctx.api.submitOk(), await ctx.api.submitOk(), await ctx.api.submitOk()];

    // Act
    const outcome = await ctx.api.cancel(b);
    const positionOfC = (await ctx.api.status(c)).body.queue_position;
    ctx.sim.admin.advance(5_000);

    // Assess
    expect(outcome.body.outcome).toBe('cancelled');
    expect(positionOfC).toBe(0);
    expect(ctx.sim.admin.job(a)?.state).toBe('succeeded');
    expect(ctx.sim.admin.job(b)).toMatchObject({ state: 'cancelled', started_at: null, charged_usd: 0 });
    expect(ctx.sim.admin.job(c)?.state).toBe('succeeded');
    expect((await ctx.api.cancel(b)).body.outcome).toBe('cancelled');
  });

  it('in polls mode moves one state every polls_per_state polls', async () => {
    // Prepare
    ctx.sim.admin.setKnobs({ clock_mode: 'polls', polls_per_state: 2 });
    const id = await ctx.api.submitOk();

    // Act
    const statuses: unknown[] = [];
    for (let poll = 0; poll < 6; poll++) statuses.push((await ctx.api.status(id)).body.status);

    // Assess
    expect(statuses).toEqual([
      'in_queue',
      'in_queue',
      'in_progress',
      'in_progress',
      'completed',
      'completed',
    ]);
  });

  it('in timed mode progresses by the wall clock', async () => {
    // Prepare
    ctx.sim.admin.setKnobs({ clock_mode: 'timed', queue_delay_s: 0, run_delay_s: 0.05 });
    const id = await ctx.api.submitOk();

    // Act
    let status = '';
    for (let attempt = 0; attempt < 100 && status !== 'completed'; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      status = (await ctx.api.status(id)).body.status as string;
    }

    // Assess
    expect(status).toBe('completed');
  });

  it('charges the balance on success and refuses submits once it is below the price (400002, or 402)', async () => {
    // Prepare
    ctx.sim.admin.setBalance('u1', 0.015);
    await ctx.api.submitOk();
    ctx.sim.admin.advance(1_000);

    // Act
    const refused = await ctx.api.submit();
    ctx.sim.admin.setKnobs({ insufficient_http: 402 });
    const refused402 = await ctx.api.submit();

    // Assess
    expect(ctx.sim.admin.balance('u1')).toBeCloseTo(0.005);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error_code: 400002, error: 'InsufficientResources' });
    expect(refused402.status).toBe(402);
  });
});
