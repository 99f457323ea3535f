import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];

/**
 * The system's Chromium for browser tests (browser builds cannot be downloaded here): the
 * executable `CHROMIUM_PATH` names, else the first of `chromium`, `chromium-browser`,
 * `google-chrome-stable`, `google-chrome` on the PATH. Throws, never skips: a suite that
 * silently lost its browser tests would pass while proving nothing.
 */
export function chromiumExecutable(env: NodeJS.ProcessEnv = process.env): string {
  const named = env.CHROMIUM_PATH;
  if (named) {
    if (isExecutable(named)) return named;
    throw new Error(`CHROMIUM_PATH=${named} is not an executable file`);
  }
  for (const directory of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    for (const name of NAMES) {
      const candidate = join(directory, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  throw new Error(
    `no Chromium found (looked for ${NAMES.join(', ')} on the PATH): install it with ` +
      '`apt-get install -y chromium` (.ci/run does so), or set CHROMIUM_PATH to a Chromium or Chrome executable',
  );
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
