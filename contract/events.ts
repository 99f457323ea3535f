/**
 * Source and detail types of the events the pipeline puts on its EventBridge bus, and the one
 * it listens for. The events' schemas live with the code that builds them
 * (`functions/core/notify/events.ts`, generated into `schemas/events/`).
 */
export const EVENTS = {
  source: 'flux-edit-pipeline',
  jobSubmitted: 'Edit Job Submitted',
  jobStarted: 'Edit Job Started',
  jobCompleted: 'Edit Job Completed',
  jobDeleted: 'Edit Job Deleted',
  /** Every job of a batch ended; its results manifest is written. Once per batch. */
  batchCompleted: 'Edit Batch Completed',
  /** Integrators put this on the bus to submit an edit; `detail` is the edit request. */
  jobRequested: 'Edit Job Requested',
} as const;

/**
 * The rule that turns `Edit Job Requested` events on the bus into submissions (via the submit
 * queue, for retries and a DLQ). Matched on the detail type alone, from any source.
 */
export const SUBMIT_RULE = {
  detailTypes: [EVENTS.jobRequested],
} as const;
