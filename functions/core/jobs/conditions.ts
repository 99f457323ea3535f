/**
 * Write conditions as data: the lifecycle states them once, and each store adapter carries them
 * out — DynamoDB renders them to a `ConditionExpression`, the in-memory store evaluates them —
 * so both stores accept and refuse exactly the same writes.
 *
 * Paths are attribute names, dotted for a nested map field (`webhook.round`). Timestamps are ISO
 * strings of one format, so `lt` compares them in time order.
 */
export type Scalar = string | number | boolean;

export type Condition =
  | { op: 'exists' | 'absent'; path: string }
  | { op: 'eq' | 'lt'; path: string; value: Scalar }
  | { op: 'in'; path: string; values: readonly Scalar[] }
  | { op: 'and' | 'or'; of: readonly Condition[] };

export const has = (path: string): Condition => ({ op: 'exists', path });
export const missing = (path: string): Condition => ({ op: 'absent', path });
export const is = (path: string, value: Scalar): Condition => ({ op: 'eq', path, value });
export const before = (path: string, value: Scalar): Condition => ({ op: 'lt', path, value });
export const oneOf = (path: string, values: readonly Scalar[]): Condition => ({ op: 'in', path, values });
export const all = (...of: Condition[]): Condition => ({ op: 'and', of });
export const any = (...of: Condition[]): Condition => ({ op: 'or', of });

/** Whether `condition` holds for `item` (a job record as stored). */
export function holds(condition: Condition, item: Record<string, unknown>): boolean {
  switch (condition.op) {
    case 'exists':
      return valueAt(item, condition.path) !== undefined;
    case 'absent':
      return valueAt(item, condition.path) === undefined;
    case 'eq':
      return valueAt(item, condition.path) === condition.value;
    case 'lt': {
      const value = valueAt(item, condition.path);
      return typeof value === typeof condition.value && (value as Scalar) < condition.value;
    }
    case 'in':
      return condition.values.includes(valueAt(item, condition.path) as Scalar);
    case 'and':
      return condition.of.every((part) => holds(part, item));
    case 'or':
      return condition.of.some((part) => holds(part, item));
  }
}

function valueAt(item: Record<string, unknown>, path: string): unknown {
  let value: unknown = item;
  for (const segment of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}
