import { z } from 'zod';
import { SimulatorError } from './errors.ts';
import type { Knobs } from './knobs.ts';
import type { Rng } from './random.ts';
import type { Endpoint } from './stats.ts';

/**
 * "Fail the next `times` calls matching method/endpoint/path prefix": the deterministic way
 * to inject transport faults. Either `status` (answer with it) or `drop` (destroy the socket
 * `before` handling, or `after` handling, e.g. a submit whose job exists but whose answer is lost).
 */
export const FaultRuleSchema = z
  .object({
    times: z.int().positive().default(1),
    method: z
      .string()
      .transform((method) => method.toUpperCase())
      .optional(),
    endpoint: z.enum(['submit', 'status', 'result', 'cancel', 'catalog', 'file', 'unknown']).optional(),
    path_prefix: z.string().startsWith('/').optional(),
    status: z.int().min(400).max(599).optional(),
    drop: z.enum(['before', 'after']).optional(),
    /** Seconds for `Retry-After`; null suppresses it. Default: `retry_after_s` on 429/503 when `send_retry_after`. */
    retry_after_s: z.int().nonnegative().nullable().optional(),
    /** `text` mimics a gateway's non-JSON error page. */
    body: z.enum(['json', 'text']).default('json'),
  })
  .refine((rule) => (rule.status === undefined) !== (rule.drop === undefined), {
    message: 'set exactly one of status and drop',
  });

export type FaultRule = z.output<typeof FaultRuleSchema>;
export type FaultRuleInput = z.input<typeof FaultRuleSchema>;

export type FaultAction =
  | { kind: 'drop'; when: 'before' | 'after' }
  | { kind: 'status'; status: number; retryAfterS: number | undefined; body: 'json' | 'text' };

interface RequestFacts {
  method: string;
  path: string;
  endpoint: Endpoint;
}

const RANDOM_5XX = [500, 502, 503] as const;

export class FaultInjector {
  #rules: FaultRule[] = [];
  #windows = new Map<string, { startedAt: number; count: number }>();

  add(input: FaultRuleInput): FaultRule {
    const parsed = FaultRuleSchema.safeParse(input);
    if (!parsed.success) {
      throw new SimulatorError('INVALID_FAULT', `invalid fault rule: ${z.prettifyError(parsed.error)}`);
    }
    this.#rules.push(parsed.data);
    return parsed.data;
  }

  rules(): FaultRule[] {
    return structuredClone(this.#rules);
  }

  reset(): void {
    this.#rules = [];
    this.#windows.clear();
    this.#counts = {};
  }

  #counts: Record<string, number> = {};

  /** Counts a fault of a kind (random knobs and the server's own), for the books. */
  #injected(kind: string): void {
    this.#counts[kind] = (this.#counts[kind] ?? 0) + 1;
  }

  count(kind: string): void {
    this.#injected(kind);
  }

  /** Injected faults so far, by kind. */
  injected(): Record<string, number> {
    return { ...this.#counts };
  }

  /** The fault (scripted first, then random) this request gets, if any. Consumes one use of a rule. */
  take(request: RequestFacts, knobs: Knobs, rng: Rng): FaultAction | undefined {
    const index = this.#rules.findIndex((rule) => matches(rule, request));
    const rule = this.#rules[index];
    if (rule) {
      rule.times--;
      if (rule.times === 0) this.#rules.splice(index, 1);
      if (rule.drop) return { kind: 'drop', when: rule.drop };
      const status = rule.status!;
      const retryAfterS =
        rule.retry_after_s === null
          ? undefined
          : (rule.retry_after_s ?? (wantsRetryAfter(status, knobs) ? knobs.retry_after_s : undefined));
      return { kind: 'status', status, retryAfterS, body: rule.body };
    }
    const upstreamCall = request.path.startsWith('/v1/') && request.endpoint !== 'unknown';
    if (upstreamCall && knobs.p_rate_limited > 0 && rng.next() < knobs.p_rate_limited) {
      this.#injected('rate_limited');
      return {
        kind: 'status',
        status: 429,
        retryAfterS: wantsRetryAfter(429, knobs) ? knobs.retry_after_s : undefined,
        body: 'json',
      };
    }
    const probability =
      request.endpoint === 'submit'
        ? knobs.p_submit_5xx
        : request.endpoint === 'cancel'
          ? knobs.p_cancel_5xx
          : request.method === 'GET'
            ? knobs.p_status_5xx
            : 0;
    if (probability > 0 && rng.next() < probability) {
      const status = RANDOM_5XX[rng.int(RANDOM_5XX.length)]!;
      this.#injected(`${request.endpoint}_5xx`);
      return {
        kind: 'status',
        status,
        retryAfterS: wantsRetryAfter(status, knobs) ? knobs.retry_after_s : undefined,
        body: 'json',
      };
    }
    return undefined;
  }

  /** Fixed-window limit per token (sim clock); returns the seconds until the window reopens when over. */
  overRateLimit(token: string, now: number, knobs: Knobs): number | undefined {
    const limit = knobs.rate_limit;
    if (!limit) return undefined;
    const windowMs = limit.window_s * 1000;
    let window = this.#windows.get(token);
    if (!window || now - window.startedAt >= windowMs) {
      window = { startedAt: now, count: 0 };
      this.#windows.set(token, window);
    }
    window.count++;
    if (window.count <= limit.requests) return undefined;
    return Math.max(1, Math.ceil((window.startedAt + windowMs - now) / 1000));
  }
}

function matches(rule: FaultRule, request: RequestFacts): boolean {
  return (
    (rule.method === undefined || rule.method === request.method) &&
    (rule.endpoint === undefined || rule.endpoint === request.endpoint) &&
    (rule.path_prefix === undefined || request.path.startsWith(rule.path_prefix))
  );
}

function wantsRetryAfter(status: number, knobs: Knobs): boolean {
  return knobs.send_retry_after && (status === 429 || status === 503);
}
