import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FUNCTIONS, type FunctionName } from '../contract/index.ts';
import { LocalRuntimeError } from './errors.ts';
import type { LambdaHandler } from './lambda-context.ts';

export type HandlerOverrides = Partial<Record<FunctionName, LambdaHandler>>;

const REPO_ROOT = resolve(import.meta.dirname, '..');

let coldStarts = 0;

/**
 * Imports each function's `handler` from its entry in infra/definition.ts. Must run after
 * the environment is complete: handlers read and validate their configuration at module
 * init, as they do on a Lambda cold start. Overrides replace (and skip importing) handlers,
 * which lets tests drive the runtime with stand-ins.
 *
 * Every call is a fresh cold start of the entry modules (a new module instance, through a
 * query string on the URL), so a later pipeline in the same process does not get handlers
 * still configured for an earlier one. Modules the entries import (Powertools' logger, the
 * SDK) stay shared, as they would not in separate Lambda containers.
 */
export async function loadHandlers(
  overrides: HandlerOverrides = {},
): Promise<Record<FunctionName, LambdaHandler>> {
  const names = Object.keys(FUNCTIONS) as FunctionName[];
  coldStarts += 1;
  const loaded = await Promise.all(
    names.map(async (name) => [name, overrides[name] ?? (await importHandler(name, coldStarts))] as const),
  );
  return Object.fromEntries(loaded) as Record<FunctionName, LambdaHandler>;
}

async function importHandler(name: FunctionName, coldStart: number): Promise<LambdaHandler> {
  const entry = FUNCTIONS[name].entry;
  let module: { handler?: unknown };
  try {
    module = await import(`${pathToFileURL(resolve(REPO_ROOT, entry)).href}?cold-start=${coldStart}`);
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
