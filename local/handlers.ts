import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FUNCTIONS, type FunctionName } from '../infra/definition.ts';
import { LocalRuntimeError } from './errors.ts';
import type { LambdaHandler } from './lambda-context.ts';

export type HandlerOverrides = Partial<Record<FunctionName, LambdaHandler>>;

const REPO_ROOT = resolve(import.meta.dirname, '..');

/**
 * Imports each function's `handler` from its entry in infra/definition.ts. Must run after
 * the environment is complete: handlers read and validate their configuration at module
 * init, as they do on a Lambda cold start. Overrides replace (and skip importing) handlers,
 * which lets tests drive the runtime with stand-ins.
 *
 * ES modules are cached per process (per vitest module registry), so handlers see the
 * environment of the first pipeline that loaded them.
 */
export async function loadHandlers(
  overrides: HandlerOverrides = {},
): Promise<Record<FunctionName, LambdaHandler>> {
  const names = Object.keys(FUNCTIONS) as FunctionName[];
  const loaded = await Promise.all(
    names.map(async (name) => [name, overrides[name] ?? (await importHandler(name))] as const),
  );
  return Object.fromEntries(loaded) as Record<FunctionName, LambdaHandler>;
}

async function importHandler(name: FunctionName): Promise<LambdaHandler> {
  const entry = FUNCTIONS[name].entry;
  let module: { handler?: unknown };
  try {
    module = await import(pathToFileURL(resolve(REPO_ROOT, entry)).href);
  } catch (error) {
    throw new LocalRuntimeError('HANDLER_LOAD_FAILED', `could not load ${entry}: ${String(error)}`, {
      cause: error,
    });
  }
  if (typeof module.handler !== 'function') {
    throw new LocalRuntimeError('HANDLER_LOAD_FAILED', `${entry} does not export a handler function`);
  }
  return module.handler as LambdaHandler;
}
