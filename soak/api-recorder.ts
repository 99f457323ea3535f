import { sleep } from './plan.ts';

/** The soak's own HTTP calls to the API, every answer's status counted. */
export class ApiRecorder {
  readonly statuses: Record<string, number> = {};
  /** The first server errors, with what was asked and answered. */
  readonly serverErrors: string[] = [];
  constructor(private readonly baseUrl: string) {}

  async call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: unknown }> {
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await fetch(`${this.baseUrl}${path}`, {
          method,
          headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
          body: body ? JSON.stringify(body) : undefined,
        });
        const text = await response.text();
        this.statuses[response.status] = (this.statuses[response.status] ?? 0) + 1;
        if (response.status >= 500 && this.serverErrors.length < 10) {
          this.serverErrors.push(`${method} ${path} → ${response.status} ${text.slice(0, 300)}`);
        }
        // A 5xx is counted (an invariant fails on it), then retried as a client would.
        if (response.status >= 500 && attempt < 5) {
          await sleep(500 * attempt);
          continue;
        }
        return { status: response.status, body: text ? JSON.parse(text) : undefined };
      } catch (error) {
        if (attempt >= 5) throw error;
        await sleep(500 * attempt);
      }
    }
  }
}
