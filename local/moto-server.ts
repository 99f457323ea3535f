import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { LocalRuntimeError } from './errors.ts';
import { ensurePythonTools, MOTO } from './python-venv.ts';

export interface MotoServerOptions {
  /**
   * Where moto's stdout/stderr (its request log and tracebacks) go, appended.
   * @default '.local/moto.log' under the repository root
   */
  logFile?: string;
  /** @default 30_000 */
  startupTimeoutMs?: number;
  /** Progress lines (venv creation, pip) for a human; silent by default. */
  log?: (line: string) => void;
}

export interface MotoServer {
  /** `http://127.0.0.1:<port>`: what `AWS_ENDPOINT_URL` is set to. */
  readonly endpoint: string;
  readonly pid: number;
  /** Stops the server; safe to call more than once. */
  stop(): Promise<void>;
}

const motoPython = join(MOTO.venv, 'bin', 'python');

export const DEFAULT_MOTO_LOG = resolve(import.meta.dirname, '..', '.local', 'moto.log');

/**
 * moto is started through our launcher rather than `python -m moto.server`: it serialises
 * DynamoDB requests, which moto handles on concurrent threads without the atomicity DynamoDB
 * guarantees (two conditional writes on one key could both succeed), and it exits when this
 * Node process dies, even by SIGKILL or a vitest worker being torn down (its stdin pipe closes,
 * its parent pid changes). An exit hook alone would leave orphaned servers after such deaths.
 */
export const MOTO_LAUNCHER = resolve(import.meta.dirname, 'moto_launcher.py');

// Werkzeug announces the port it bound (we ask for port 0, so the OS picks a free one, no race).
const LISTENING = /Running on (http:\/\/127\.0\.0\.1:\d+)/;

/**
 * Starts moto in server mode on loopback with an OS-assigned port and resolves once it answers
 * HTTP. Installs moto into the project venv first if it is missing.
 *
 * @example
 * const moto = await startMotoServer();
 * process.env.AWS_ENDPOINT_URL = moto.endpoint;
 * // ...
 * await moto.stop();
 */
export async function startMotoServer(options: MotoServerOptions = {}): Promise<MotoServer> {
  const logFile = options.logFile ?? DEFAULT_MOTO_LOG;
  mkdirSync(dirname(logFile), { recursive: true });
  // Checking the venv costs a Python start (~0.4 s, paid by every test file), so it is only
  // done when there is no venv yet or moto fails to come up from it.
  if (!existsSync(motoPython)) ensurePythonTools([MOTO], options.log);
  try {
    return await launch(logFile, options.startupTimeoutMs ?? 30_000);
  } catch (error) {
    if (!(error instanceof LocalRuntimeError && error.code === 'MOTO_EXITED')) throw error;
    ensurePythonTools([MOTO], options.log);
    return launch(logFile, options.startupTimeoutMs ?? 30_000);
  }
}

async function launch(logFile: string, timeoutMs: number): Promise<MotoServer> {
  const logStream = createWriteStream(logFile, { flags: 'a' });
  logStream.write(`--- moto started by pid ${process.pid} at ${new Date().toISOString()}\n`);
  const child = spawn(
    motoPython,
    [MOTO_LAUNCHER, '--parent-pid', String(process.pid), '-H', '127.0.0.1', '-p', '0'],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
      // moto answers every origin's CORS request by default; S3 answers only what the bucket's
      // CORS rules allow, and so does moto without its global CORS (see putConsoleCors).
      env: { ...process.env, PYTHONUNBUFFERED: '1', MOTO_DISABLE_GLOBAL_CORS: 'true' },
    },
  );
  child.stdout.pipe(logStream, { end: false });
  child.stderr.pipe(logStream, { end: false });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      process.removeListener('exit', killOnExit);
      await terminate(child);
      await new Promise<void>((done) => logStream.end(done));
    })();
    return stopped;
  };

  try {
    const endpoint = await waitForEndpoint(child, timeoutMs, logFile);
    await waitUntilAnswering(endpoint, timeoutMs);
    return { endpoint, pid: child.pid!, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function waitForEndpoint(child: ChildProcess, timeoutMs: number, logFile: string): Promise<string> {
  return new Promise((resolveEndpoint, reject) => {
    let seen = '';
    const fail = (message: string) => {
      cleanup();
      reject(new LocalRuntimeError('MOTO_START_FAILED', `${message}; see ${logFile}`));
    };
    const onData = (chunk: Buffer) => {
      seen = (seen + chunk.toString()).slice(-4096);
      const match = LISTENING.exec(seen);
      if (match?.[1]) {
        cleanup();
        resolveEndpoint(match[1]);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(
        new LocalRuntimeError('MOTO_EXITED', `moto exited (code ${code}) before listening; see ${logFile}`),
      );
    };
    const onError = (error: Error) => fail(`could not spawn moto: ${error.message}`);
    const timer = setTimeout(() => fail(`moto did not listen within ${timeoutMs} ms`), timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    child.stderr?.on('data', onData);
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

async function waitUntilAnswering(endpoint: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      // Any HTTP answer proves the WSGI app is serving; the status does not matter.
      await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(2_000) });
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        throw new LocalRuntimeError('MOTO_START_FAILED', `moto at ${endpoint} does not answer`, {
          cause: error,
        });
      }
      await new Promise((wake) => setTimeout(wake, 50));
    }
  }
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.stdin?.end();
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}
