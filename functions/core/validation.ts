import type { z } from 'zod/mini';
import { type FieldIssue, ValidationError } from './errors.ts';

/** Turns zod issues into field paths a caller can act on (`image_urls/1`, `body` for the root). */
export function toFieldIssues(issues: readonly z.core.$ZodIssue[]): FieldIssue[] {
  return issues.map((issue) => ({
    path: issue.path.length === 0 ? '(root)' : issue.path.map(String).join('/'),
    message: issue.message,
  }));
}

/** Parses `value` or throws a {@link ValidationError} naming every bad field. */
export function parseOrThrow<T extends z.ZodMiniType>(schema: T, value: unknown, what: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(`${what} is invalid`, toFieldIssues(result.error.issues));
  return result.data;
}
