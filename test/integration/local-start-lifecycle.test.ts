import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  eventually,
  isListening,
  type NpmStart,
  processTreeOf,
  spawnNpmStart,
  stillRunning,
} from '../support/npm-start.ts';

/*
 * `npm start` is npm → node (local/start.ts) → moto (Python), plus esbuild's service for tsx.
 * Whatever stops it, nothing may stay behind: no process, no port, no stale stack file.
 */
let started: NpmStart | undefined;

afterEach(async () => {
  await started?.cleanUp();
  started = undefined;
});

async function startAndSnapshot() {
  started = spawnNpmStart();
  const stack = await started.waitForStack();
  const tree = processTreeOf(started.npm.pid!);
  const runtime = tree.find((row) => row.command.includes('local/start.ts'));
  const moto = tree.find((row) => row.command.includes('moto_launcher.py'));
  expect(runtime, JSON.stringify(tree)).toBeDefined();
  expect(moto, JSON.stringify(tree)).toBeDefined();
  expect(await isListening(stack.apiUrl)).toBe(true);
  expect(await isListening(stack.awsEndpoint)).toBe(true);
  return {
    started,
    stack,
    pids: [started.npm.pid!, ...tree.map((row) => row.pid)],
    runtime: runtime!,
    moto: moto!,
  };
}

describe('npm start', () => {
  it.each(['SIGTERM', 'SIGINT', 'SIGHUP'] as const)(
    'stops everything and removes the stack file when npm gets %s',
    async (signal) => {
      // Prepare
      const { started, stack, pids } = await startAndSnapshot();

      // Act
      process.kill(started.npm.pid!, signal);

      // Assess
      const left = await eventually(
        () => stillRunning(pids),
        (running) => running.length === 0,
      );
      expect(left).toEqual([]);
      expect(await isListening(stack.apiUrl)).toBe(false);
      expect(await isListening(stack.awsEndpoint)).toBe(false);
      expect(existsSync(started.stackFile)).toBe(false);
      // npm forwards SIGINT and SIGTERM, and the runtime then ends normally; SIGHUP kills npm itself.
      if (signal !== 'SIGHUP') expect((await started.exited).code).toBe(0);
      expect(started.output()).toMatch(new RegExp(`(${signal} received|has exited): stopping`));
    },
    90_000,
  );

  it('takes moto down with it when its node process is killed outright (SIGKILL)', async () => {
    // Prepare
    const { stack, pids, runtime, moto } = await startAndSnapshot();

    // Act
    process.kill(runtime.pid, 'SIGKILL');

    // Assess: moto and everything else ends by itself; the stack file cannot be removed by a killed process
    const left = await eventually(
      () => stillRunning(pids),
      (running) => running.length === 0,
    );
    expect(left).toEqual([]);
    expect(stillRunning([moto.pid])).toEqual([]);
    expect(await isListening(stack.awsEndpoint)).toBe(false);
    expect(await isListening(stack.apiUrl)).toBe(false);
  }, 90_000);
});
