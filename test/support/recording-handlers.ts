import type { Context } from 'aws-lambda';
import type { FunctionName } from '../../contract/index.ts';
import type { HandlerOverrides } from '../../local/handlers.ts';

export interface RecordedInvocation {
  event: unknown;
  context: Context;
}

export type Behaviour = (event: never, context: Context) => unknown;

export interface RecordingHandlers {
  /** Pass as `startLocalPipeline({ handlers })`. */
  handlers: HandlerOverrides;
  /** Every invocation per function, in order. */
  calls: Record<FunctionName, RecordedInvocation[]>;
  /** Replace what a function does (default: HTTP functions answer 204, consumers succeed). */
  behave(functionName: FunctionName, behaviour: Behaviour): void;
  reset(): void;
}

const NAMES: FunctionName[] = ['submit', 'jobs', 'poller', 'result'];

const defaultBehaviour = (functionName: FunctionName): Behaviour =>
  functionName === 'submit' || functionName === 'jobs' ? () => ({ statusCode: 204 }) : () => undefined;

/**
 * Stand-in handlers for testing the local runtime itself: they record the event and context
 * Lambda would pass and then do whatever the test told them to.
 */
export function createRecordingHandlers(): RecordingHandlers {
  const calls = Object.fromEntries(NAMES.map((name) => [name, []])) as unknown as Record<
    FunctionName,
    RecordedInvocation[]
  >;
  const behaviours = new Map<FunctionName, Behaviour>();
  const handlers = Object.fromEntries(
    NAMES.map((name) => [
      name,
      async (event: never, context: Context) => {
        calls[name].push({ event, context });
        return (behaviours.get(name) ?? defaultBehaviour(name))(event, context);
      },
    ]),
  ) as HandlerOverrides;
  return {
    handlers,
    calls,
    behave: (name, behaviour) => behaviours.set(name, behaviour),
    reset: () => {
      behaviours.clear();
      for (const name of NAMES) calls[name].length = 0;
    },
  };
}
