import { OutputCopyError } from '#core/outputs/index';

/** The OutputCopyError a copy rejects with; any other outcome fails the test. */
export async function failureOf(promise: Promise<unknown>): Promise<OutputCopyError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof OutputCopyError))
    throw new Error(`expected an OutputCopyError, got ${String(error)}`);
  return error;
}
