import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { SimClock } from '../../simulator/clock.ts';

describe('Class: SimClock', () => {
  it('is frozen in manual mode and moves only on advance', () => {
    // Prepare
    let wall = 1_000;
    const clock = new SimClock({ now: () => wall, sleep: async () => {} }, 'manual');

    // Act
    wall = 5_000;
    const frozen = clock.now();
    clock.advance(250);

    // Assess
    expect(frozen).toBe(1_000);
    expect(clock.now()).toBe(1_250);
  });

  it('follows the source in timed mode, plus advances, and never jumps back on mode switches', () => {
    // Prepare
    let wall = 1_000;
    const clock = new SimClock({ now: () => wall, sleep: async () => {} });

    // Act
    clock.advance(500);
    wall = 2_000;
    const timed = clock.now();
    clock.setMode('manual');
    wall = 1_000_000;
    const manual = clock.now();
    clock.setMode('timed');
    wall = 1_000_010;

    // Assess
    expect(timed).toBe(2_500);
    expect(manual).toBe(2_500);
    expect(clock.now()).toBe(2_510);
    expect(() => clock.advance(-1)).toThrow(RangeError);
  });
});

describe('Function: main (CLI)', () => {
  let child: ChildProcess | undefined;

  afterEach(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  it('starts on the asked options and prints the base URL and token', async () => {
    // Prepare
    child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'simulator/main.ts',
        '--port',
        '0',
        '--queue-delay',
        '0.1',
        '--token',
        'cli-token',
        '--knob',
        'output_key=images',
        '--knob',
        'output_min_bytes=1000',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );

    // Act
    let out = '';
    for await (const chunk of child.stdout!) {
      out += String(chunk);
      if (out.includes('RUNCOMFY_API_TOKEN')) break;
    }
    const baseUrl = /RUNCOMFY_BASE_URL=(\S+)/.exec(out)?.[1];
    const knobs = await (await fetch(`${baseUrl}/__sim/knobs`)).json();

    // Assess
    expect(baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(out).toContain('RUNCOMFY_API_TOKEN=cli-token');
    expect(knobs).toMatchObject({
      queue_delay_s: 0.1,
      tokens: { 'cli-token': 'u1' },
      output_key: 'images',
      output_min_bytes: 1000,
    });
  });
});
