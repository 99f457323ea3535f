import type { Job } from '#core/jobs/job';
import { completionEvent } from '#core/notify/event-builders';
import type { LifecycleEvent } from '#core/notify/events';
import type { Notifier } from '#core/ports';

/** Records what would have gone to SNS/EventBridge; `failNext` scripts a refused publish. */
export class MemoryNotifier implements Notifier {
  readonly completions: { eventId: string; job: Job }[] = [];
  readonly announcements: LifecycleEvent[] = [];
  failNext?: () => void;

  async completed(job: Job): Promise<void> {
    const fail = this.failNext;
    this.failNext = undefined;
    fail?.();
    this.completions.push({ eventId: completionEvent(job).event_id, job: structuredClone(job) });
  }

  async announce(event: LifecycleEvent): Promise<void> {
    this.announcements.push(event);
  }
}
