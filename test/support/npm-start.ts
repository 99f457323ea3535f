import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ENV } from '../../contract/index.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** What `npm start` writes to its stack file (the part the tests read). */
export interface StackDescription {
  apiUrl: string;
  consoleUrl: string;
  awsEndpoint: string;
  region: string;
  bucket: string;
  table: string;
  runComfy: { baseUrl: string; simulated: boolean };
}

export interface NpmStart {
  /** The `npm` process itself. */
  readonly npm: ChildProcess;
  readonly stackFile: string;
  /** stdout and stderr so far, interleaved. */
  output(): string;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves once the stack file describes the running stack. */
  waitForStack(timeoutMs?: number): Promise<StackDescription>;
  /** npm's exit. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Stops whatever is left (a test that failed half-way) and removes the temporary directory. */
  cleanUp(): Promise<void>;
}

/**
 * Runs the real `npm start` (npm → node local/start.ts → moto) in the repository, with a stack
 * file of its own in a temporary directory, an ephemeral API port, and `env` on top of this
 * process's environment without any of the functions' settings (so only `env` sets them).
 */
export function spawnNpmStart(env: Record<string, string> = {}): NpmStart {
  const directory = mkdtempSync(join(tmpdir(), 'flux-npm-start-'));
  const stackFile = join(directory, 'stack.json');
  const inherited = { ...process.env };
  for (const name of Object.values(ENV)) delete inherited[name];
  const npm = spawn('npm', ['start'], {
    cwd: ROOT,
    env: {
      ...inherited,
      PORT: '0',
      LOCAL_STACK_FILE: stackFile,
      LOCAL_RETRY_DELAY_SECONDS: '1',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      POWERTOOLS_METRICS_DISABLED: 'true',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  npm.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  npm.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = once(npm, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));

  const waitFor = async <T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value !== undefined) return value;
      if (npm.exitCode !== null || Date.now() > deadline) {
        throw new Error(
          `npm start: no ${what} (${npm.exitCode === null ? 'timed out' : 'exited'}); output:\n${output}`,
        );
      }
      await new Promise((wake) => setTimeout(wake, 100));
    }
  };

  return {
    npm,
    stackFile,
    output: () => output,
    waitForOutput: (pattern, timeoutMs = 60_000) =>
      waitFor(`output matching ${pattern}`, () => output.match(pattern) ?? undefined, timeoutMs),
    waitForStack: (timeoutMs = 60_000) =>
      waitFor(
        'stack file',
        () =>
          existsSync(stackFile)
            ? (JSON.parse(readFileSync(stackFile, 'utf8')) as StackDescription)
            : undefined,
        timeoutMs,
      ),
    exited,
    cleanUp: async () => {
      for (const pid of [...descendantsOf(npm.pid ?? -1), npm.pid ?? -1]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

interface ProcessRow {
  pid: number;
  ppid: number;
  state: string;
  command: string;
}

function processTable(): ProcessRow[] {
  return execFileSync('ps', ['-A', '-o', 'pid=,ppid=,stat=,args='], { encoding: 'utf8' })
    .split('\n')
    .flatMap((line) => {
      const match = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(line);
      return match
        ? [{ pid: Number(match[1]), ppid: Number(match[2]), state: match[3] ?? '', command: match[4] ?? '' }]
        : [];
    });
}

/** Every living process below `pid`, with its command line. */
export function processTreeOf(pid: number): { pid: number; command: string }[] {
  const rows = processTable().filter((row) => !row.state.startsWith('Z'));
  const found: ProcessRow[] = [];
  const parents = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const row of rows) {
      if (parents.has(row.ppid) && !parents.has(row.pid)) {
        parents.add(row.pid);
        found.push(row);
        grew = true;
      }
    }
  }
  return found.map(({ pid: child, command }) => ({ pid: child, command }));
}

function descendantsOf(pid: number): number[] {
  return processTreeOf(pid).map((row) => row.pid);
}

/** Which of `pids` still run (a zombie waiting for its parent to reap it has ended). */
export function stillRunning(pids: number[]): number[] {
  const alive = new Set(
    processTable()
      .filter((row) => !row.state.startsWith('Z'))
      .map((row) => row.pid),
  );
  return pids.filter((pid) => alive.has(pid));
}

/** Whether something accepts connections on `url`'s port on loopback. */
export async function isListening(url: string): Promise<boolean> {
  const port = Number(new URL(url).port);
  return new Promise((answer) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      answer(true);
    });
    socket.once('error', () => answer(false));
  });
}

/** Polls `check` until it holds or `timeoutMs` passes; the last value either way. */
export async function eventually<T>(
  check: () => Promise<T> | T,
  holds: (value: T) => boolean,
  timeoutMs = 15_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (holds(value) || Date.now() > deadline) return value;
    await new Promise((wake) => setTimeout(wake, 100));
  }
}
