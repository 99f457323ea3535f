import { PipelineError } from '../errors.ts';
import type { AdmissionStore } from '../ports.ts';
import { type JobDeps, writeContext } from './deps.ts';
import { iso, type Job } from './job.ts';
import { admit, waitKeyOf } from './lifecycle.ts';
import type { DispatchMessage } from './messages.ts';

/**
 * Admission control: at most `UPSTREAM_CONCURRENCY` jobs in flight at RunComfy, across every
 * function instance, in the order they arrived — interactive submissions before batch lines, so a
 * 50,000-line batch never holds back a single edit (batches share what interactive work leaves).
 *
 * A job arriving while a slot is free and nobody waits takes the slot at once (`admitOnArrival`).
 * Otherwise it waits in its lane (a sparse index, by its place in line) until a dispatcher gives it
 * a slot in the shared admission record and sends its first heartbeat, which submits it. The slot
 * is given back when RunComfy's run finishes (the hand-over) or the job ends before that, and the
 * one who gives it back admits the next in line at once. RunComfy answering 429 lowers the limit
 * (halved; then raised by one per accepted submission, up to the setting: AIMD) and the job waits
 * again at its old place. A slot held by a handler that died is reclaimed: a dispatcher that finds
 * no free slot checks the holders, and any that is no longer submitting or running upstream, or
 * never became admitted, loses it.
 */
export type AdmissionDeps = JobDeps & { admission: AdmissionStore };

/** A slot taken but not turned into an admitted job within this long was left by a crash. */
export const UNCLAIMED_SLOT_MS = 60_000;

/** Dispatches admit at most this many jobs per call (the rest on the next release or nudge). */
const MAX_ADMITTED_PER_CALL = 50;

export class SpendCapReachedError extends PipelineError {
  override readonly name: string = 'SpendCapReachedError';
  readonly resetAt: string;
  constructor(capUsd: number, spentUsd: number, resetAt: string) {
    super(
      'SPEND_CAP_REACHED',
      `today's RunComfy spend (${spentUsd.toFixed(4)} USD) reached the daily cap of ${capUsd} USD; new edits are accepted again at ${resetAt}`,
      { status: 429 },
    );
    this.resetAt = resetAt;
  }
}

const utcDay = (ms: number) => iso(ms).slice(0, 10);
const nextUtcMidnight = (ms: number) => `${iso(ms + 86_400_000).slice(0, 10)}T00:00:00.000Z`;

/** Refuses a new submission once today's spend has reached the daily cap (running jobs finish). */
export async function assertWithinSpendCap(deps: Pick<JobDeps, 'admission' | 'clock' | 'config'>) {
  const cap = deps.config.dailySpendCapUsd;
  if (cap === undefined || !deps.admission) return;
  const nowMs = deps.clock.now();
  const spent = await deps.admission.spend(utcDay(nowMs));
  if (spent >= cap) throw new SpendCapReachedError(cap, spent, nextUtcMidnight(nowMs));
}

/**
 * Records what RunComfy charged for a run, on the day it was collected: only while a cap is set,
 * as nothing else reads the day's total (a write unit per job saved; the `RunComfySpendUSD`
 * metric sums spend either way). A cap set during a day counts from when it was set.
 */
export async function recordSpend(
  deps: Pick<JobDeps, 'admission' | 'clock' | 'config'>,
  usd: number | undefined,
) {
  if (!usd || usd <= 0 || !deps.admission || deps.config.dailySpendCapUsd === undefined) return;
  await deps.admission.addSpend(utcDay(deps.clock.now()), usd);
}

/** The limit now: the setting, or lower while RunComfy pushes back. */
function currentLimit(deps: AdmissionDeps, stored: number | undefined): number {
  const setting = configuredLimit(deps);
  return Math.max(1, Math.min(setting, stored ?? setting));
}

const configuredLimit = (deps: Pick<JobDeps, 'config'>) => deps.config.upstreamConcurrency ?? 20;

/**
 * Fills free RunComfy slots with the next jobs in line (interactive first), sending each its
 * first heartbeat. Safe to run anywhere, any number of times at once: slots are taken with a
 * conditional update and admissions are conditional writes. Returns the jobs admitted.
 */
export async function dispatchAdmissions(all: JobDeps): Promise<number> {
  if (!all.admission) return 0;
  const deps = all as AdmissionDeps;
  let admitted = 0;
  if (deps.config.dailySpendCapUsd !== undefined) {
    try {
      await assertWithinSpendCap(deps);
    } catch (error) {
      if (error instanceof SpendCapReachedError) return 0;
      throw error;
    }
  }
  // Set when another dispatcher took the free slots first: full then means just filled.
  let outrun = false;
  for (let round = 0; round < 3 && admitted < MAX_ADMITTED_PER_CALL; round++) {
    const { holders, limit: stored } = await deps.admission.slots();
    const limit = currentLimit(deps, stored);
    const free = limit - Object.keys(holders).length;
    if (free <= 0) {
      // Slots just filled (by this dispatch, or a live one that outran it) are not worth a look at
      // every holder (a read of each job): stale ones are reclaimed by a dispatch that finds the
      // slots full from the start.
      if (outrun || round > 0 || (await reclaimSlots(deps, holders)) === 0) return admitted;
      continue;
    }
    const next = await deps.admission.waiting('interactive', free);
    if (next.length < free) next.push(...(await deps.admission.waiting('batch', free - next.length)));
    if (next.length === 0) return admitted;
    // The free slots go to the first in line that hold none, in one conditional update: refused
    // whole when another dispatcher took one meanwhile (then the next round reads them again), so
    // racing dispatchers cost one refused write each, not one per job.
    const taking = next
      .filter((candidate) => holders[candidate.jobId] === undefined)
      .slice(0, Math.min(free, MAX_ADMITTED_PER_CALL - admitted))
      .map((candidate) => candidate.jobId);
    if (!(await deps.admission.acquire(taking, limit, deps.clock.now()))) {
      outrun = true;
      continue;
    }
    for (const candidate of next) {
      if (admitted >= MAX_ADMITTED_PER_CALL) break;
      const heldSince = holders[candidate.jobId];
      if (!taking.includes(candidate.jobId)) {
        // No slot for it this time, or another dispatcher is admitting it right now.
        if (heldSince === undefined || deps.clock.now() - heldSince < UNCLAIMED_SLOT_MS) continue;
      }
      // (A slot the job already holds, taken by a dispatcher that died before admitting it, is
      // its own: it is admitted with it, or the head of the line would block every other.)
      const outcome = await admitJob(deps, candidate.jobId);
      if (outcome === 'admitted') admitted += 1;
      else if (outcome === 'left') await deps.admission.release(candidate.jobId);
    }
  }
  return admitted;
}

/**
 * A job arriving while a slot is free and nobody waits ahead of it (for an edit: no edit waiting;
 * for a batch line: nothing waiting at all) takes the slot at once, with no place in line and no
 * hop through a dispatcher: 4 write units and a queue message fewer. False when the slots are
 * full, someone waits, or another arrival took the last free slot first: the job then waits in
 * line. The waiting index is read eventually consistent, so a job that entered the line a moment
 * ago may be overtaken by one arriving now: arrivals that close have no order to keep.
 */
export async function admitOnArrival(
  deps: AdmissionDeps,
  jobId: string,
  lane: 'interactive' | 'batch',
): Promise<boolean> {
  const [{ holders, limit: stored }, ahead] = await Promise.all([
    deps.admission.slots(),
    waitingAhead(deps, lane),
  ]);
  const limit = currentLimit(deps, stored);
  if (ahead || Object.keys(holders).length >= limit) return false;
  return deps.admission.acquire([jobId], limit, deps.clock.now());
}

async function waitingAhead(deps: AdmissionDeps, lane: 'interactive' | 'batch'): Promise<boolean> {
  const lanes = lane === 'interactive' ? (['interactive'] as const) : (['interactive', 'batch'] as const);
  const heads = await Promise.all(lanes.map((each) => deps.admission.waiting(each, 1)));
  return heads.some((head) => head.length > 0);
}

/**
 * The place in line of a job RunComfy pushed back: its own, or for a job admitted on arrival
 * (which never had one) the head of its lane's, since everyone waiting arrived after it.
 */
export async function placeInLine(deps: AdmissionDeps, job: Job): Promise<string> {
  if (job.waitKey) return job.waitKey;
  const [head] = await deps.admission.waiting(job.lane ?? 'interactive', 1);
  return head?.waitKey ?? waitKeyOf(await deps.admission.nextSeq());
}

/**
 * Admits one job holding a slot: its first heartbeat goes out first (a heartbeat for a job still
 * waiting is dropped), then the admission write. `left`: the job left the line without being
 * admitted (cancelled, deleted): the caller gives the slot back. `already`: another dispatcher
 * admitted it (the slot is in use).
 */
async function admitJob(deps: AdmissionDeps, jobId: string): Promise<'admitted' | 'left' | 'already'> {
  const job = await deps.store.get(jobId);
  if (!job?.waitLane) return job?.admittedAt ? 'already' : 'left';
  await deps.queues.schedulePoll({ jobId, seq: job.pollCount }, 0);
  const admitted = await deps.store.write(jobId, admit(deps.config.jobDeadlineSeconds, writeContext(deps)));
  if (admitted) {
    deps.log.info('job admitted', { jobId, lane: job.lane });
    return 'admitted';
  }
  return (await deps.store.get(jobId))?.admittedAt ? 'already' : 'left';
}

/**
 * Slots whose holder is no longer in flight upstream (ended, handed over, waiting again) or that
 * were taken and never turned into an admission (a dispatcher or an arrival died in between) are
 * given back.
 */
async function reclaimSlots(deps: AdmissionDeps, holders: Record<string, number>): Promise<number> {
  // Every holder in one batch read, not one read each: a dispatch that finds the slots full looks
  // at all of them, and in a burst every release and nudge does.
  const jobs = await deps.store.getMany(Object.keys(holders));
  const nowMs = deps.clock.now();
  let reclaimed = 0;
  for (const [jobId, takenAtMs] of Object.entries(holders)) {
    // Not read (throttled): looked at again by the next dispatch that finds the slots full.
    if (!jobs.has(jobId)) continue;
    const job = jobs.get(jobId);
    // No job yet: one admitted on arrival takes its slot a moment before it is recorded.
    if (job ? holdsSlot(job, takenAtMs, nowMs) : nowMs - takenAtMs < UNCLAIMED_SLOT_MS) continue;
    await deps.admission.release(jobId);
    reclaimed += 1;
    deps.log.warn('reclaimed an upstream slot its holder no longer uses', { jobId, status: job?.status });
  }
  return reclaimed;
}

function holdsSlot(job: Job, takenAtMs: number, nowMs: number): boolean {
  if (job.status !== 'queued' && job.status !== 'running') return false;
  if (job.upstreamFinishedAt) return false;
  if (job.admittedAt) return true;
  // Taken, not admitted yet: a dispatcher is between the two steps, or died there.
  return nowMs - takenAtMs < UNCLAIMED_SLOT_MS;
}

/**
 * Gives a job's slot back (it no longer runs at RunComfy) and admits the next in line. A finisher
 * with no time to spare (`queue`: an API call, whose budget holds one RunComfy call and three AWS
 * calls) hands both to a dispatcher instead, in one message: a dispatch can take a dozen calls.
 */
export async function releaseSlot(
  deps: JobDeps,
  job: Pick<Job, 'id' | 'admittedAt'>,
  how: 'now' | 'queue' = 'now',
): Promise<void> {
  if (!job.admittedAt || !deps.admission) return;
  if (how === 'queue') return nudgeDispatch(deps, job.id);
  await deps.admission.release(job.id);
  await dispatchAdmissions(deps);
}

/**
 * A nudge to the dispatchers: a job arrived in line, or (`release`) one that ended left its slot
 * to give back. Lost, it is only a delay: every release and sweep dispatches, and a dispatch that
 * finds the slots full takes back those of ended jobs.
 */
export async function nudgeDispatch(deps: Pick<JobDeps, 'queues'>, release?: string): Promise<void> {
  await deps.queues.schedulePoll(release ? { dispatch: true, release } : { dispatch: true }, 0);
}

/** A dispatcher woken by a nudge: gives back the slot it names, then fills the free ones. */
export async function onDispatchNudge(deps: JobDeps, nudge: DispatchMessage): Promise<number> {
  if (nudge.release) await deps.admission?.release(nudge.release);
  return dispatchAdmissions(deps);
}

/**
 * RunComfy answered 429 to a submission: halve the limit. Instances that see the same limit race
 * for one conditional update, so a burst of 429s halves it once, not once per 429.
 */
export async function slowDown(deps: AdmissionDeps): Promise<void> {
  const { limit: stored } = await deps.admission.slots();
  const limit = currentLimit(deps, stored);
  const lowered = Math.max(1, Math.floor(limit / 2));
  if (lowered < limit && (await deps.admission.setLimit(lowered, stored))) {
    deps.log.warn('RunComfy pushes back: upstream concurrency lowered', { from: limit, to: lowered });
  }
}

/** A submission went through: raise a lowered limit by one, back towards the setting. */
export async function speedUp(deps: AdmissionDeps): Promise<void> {
  const { limit: stored } = await deps.admission.slots();
  if (stored === undefined || stored >= configuredLimit(deps)) return;
  await deps.admission.setLimit(Math.min(configuredLimit(deps), stored + 1), stored);
}

/**
 * How many jobs are ahead of a waiting one: those ahead in its lane (counted by place in line, so
 * an upper bound: some ahead may have been cancelled), and for a batch line every waiting
 * interactive job too (they go first). `undefined` for a job not in line.
 */
export async function linePosition(deps: Pick<JobDeps, 'admission'>, job: Job): Promise<number | undefined> {
  if (!job.waitLane || !job.waitKey || !deps.admission) return undefined;
  const [head] = await deps.admission.waiting(job.waitLane, 1);
  const ahead = head ? Math.max(0, Number(job.waitKey) - Number(head.waitKey)) : 0;
  if (job.waitLane === 'interactive') return ahead;
  return ahead + (await deps.admission.waiting('interactive', 1_000)).length;
}
