import type { SimulatorAdmin } from './admin.ts';
import { SimulatorError } from './errors.ts';
import type { FaultRuleInput } from './faults.ts';
import type { JobState } from './job.ts';
import type { KnobsInput } from './knobs.ts';
import { isoTimestamp } from './wire.ts';

export const ADMIN_PREFIX = '/__sim';

/**
 * The HTTP face of {@link SimulatorAdmin}, outside `/v1` so no client can mistake it for the API.
 * No auth: the simulator only listens on loopback by default.
 *
 * | Method | Path | Does |
 * |---|---|---|
 * | GET | /__sim/health | `{ok: true}` |
 * | GET | /__sim/jobs, /__sim/jobs/{id} | job views (with their books) |
 * | GET | /__sim/jobs/{id}/outputs | the job's output files with size and SHA-256 (rendered if need be) |
 * | POST | /__sim/jobs/{id} `{script}` | script an existing job |
 * | POST | /__sim/jobs/{id}/transition `{to, error_message?}` | force a transition |
 * | GET, PATCH/POST | /__sim/knobs | read / patch knobs |
 * | POST | /__sim/reset `{knobs?}` | reset everything |
 * | GET, PUT/POST | /__sim/balances/{user_id} `{balance_usd}` | read / set a balance (null = unlimited) |
 * | GET | /__sim/clock | `{now_ms, now, mode}` |
 * | POST | /__sim/clock/advance `{ms}` or `{s}` | advance the sim clock |
 * | GET, POST, DELETE | /__sim/faults | list / add (fail-next rule) / clear |
 * | POST, DELETE | /__sim/scripts `{script, times?}` | script the next submits / clear |
 * | GET, DELETE | /__sim/stats | request counters and books / start them again |
 */
export async function handleAdmin(
  admin: SimulatorAdmin,
  method: string,
  path: string,
  body: unknown,
): Promise<{ status: number; body: unknown }> {
  const parts = path.slice(ADMIN_PREFIX.length).split('/').filter(Boolean).map(decodeURIComponent);
  const input = (body ?? {}) as Record<string, unknown>;
  const route = `${method} /${parts.map((part, index) => (index === 1 && parts[0] !== 'clock' ? ':id' : part)).join('/')}`;
  const id = parts[1] ?? '';
  switch (route) {
    case 'GET /health':
      return ok({ ok: true });
    case 'GET /jobs':
      return ok({ jobs: admin.jobs() });
    case 'GET /jobs/:id': {
      const job = admin.job(id);
      if (!job) throw new SimulatorError('UNKNOWN_JOB', `no job ${id}`, 404);
      return ok(job);
    }
    case 'GET /jobs/:id/outputs':
      return ok({ outputs: await admin.outputs(id) });
    case 'POST /jobs/:id':
      return ok(admin.scriptJob(id, requireString(input.script, 'script')));
    case 'POST /jobs/:id/transition':
      return ok(
        admin.transition(id, requireString(input.to, 'to') as JobState, {
          ...(typeof input.error_message === 'string' ? { error_message: input.error_message } : {}),
        }),
      );
    case 'GET /knobs':
      return ok(admin.knobs());
    case 'PATCH /knobs':
    case 'POST /knobs':
      return ok(admin.setKnobs(input as Partial<KnobsInput>));
    case 'POST /reset':
      admin.reset({ knobs: (input.knobs ?? {}) as Partial<KnobsInput> });
      return ok({ ok: true });
    case 'GET /balances/:id':
      return ok({ user_id: id, balance_usd: admin.balance(id) });
    case 'PUT /balances/:id':
    case 'POST /balances/:id': {
      const usd = input.balance_usd;
      if (usd !== null && typeof usd !== 'number') {
        throw new SimulatorError('INVALID_BALANCE', 'balance_usd must be a number or null');
      }
      admin.setBalance(id, usd);
      return ok({ user_id: id, balance_usd: admin.balance(id) });
    }
    case 'GET /clock':
      return ok(clockView(admin));
    case 'POST /clock/advance': {
      const ms =
        typeof input.ms === 'number' ? input.ms : typeof input.s === 'number' ? input.s * 1000 : Number.NaN;
      admin.advance(ms);
      return ok(clockView(admin));
    }
    case 'GET /faults':
      return ok({ faults: admin.faults() });
    case 'POST /faults':
      return ok(admin.failNext(input as FaultRuleInput));
    case 'DELETE /faults':
      admin.clearFaults();
      return ok({ ok: true });
    case 'POST /scripts':
      admin.scriptNext(
        requireString(input.script, 'script'),
        typeof input.times === 'number' ? input.times : 1,
      );
      return ok({ ok: true });
    case 'DELETE /scripts':
      admin.clearScripts();
      return ok({ ok: true });
    case 'GET /stats':
      return ok(admin.stats());
    case 'DELETE /stats':
      admin.resetStats();
      return ok({ ok: true });
    default:
      throw new SimulatorError('UNKNOWN_ADMIN_ROUTE', `no admin route ${method} ${path}`, 404);
  }
}

const ok = (body: unknown) => ({ status: 200, body });

function requireString(value: unknown, name: string): string {
  if (typeof value !== 'string') throw new SimulatorError('INVALID_ADMIN_BODY', `"${name}" must be a string`);
  return value;
}

function clockView(admin: SimulatorAdmin) {
  const now = admin.now();
  return { now_ms: now, now: isoTimestamp(now), mode: admin.knobs().clock_mode };
}
