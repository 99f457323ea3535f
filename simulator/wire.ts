import type { SimContext } from './context.ts';
import type { Job } from './job.ts';
import type { Knobs } from './knobs.ts';
import { outputPath } from './outputs.ts';

/**
 * How jobs look on RunComfy's wire (reference §3.3): status strings, timestamps, output and
 * error fields. Shared by the API handlers and the admin views so both say the same thing.
 */

/** ISO-8601 with microseconds and an explicit offset, e.g. `2026-01-02T03:04:05.123000+00:00`. */
export function isoTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000+00:00');
}

/** The E2 `status` of a job. */
export function statusOf(job: Job, knobs: Knobs): string {
  switch (job.state) {
    case 'queued':
      return 'in_queue';
    case 'running':
      return 'in_progress';
    case 'succeeded':
      return 'completed';
    case 'failed':
      return knobs.status_on_failure;
    case 'cancelled':
      return 'cancelled';
  }
}

/** The E3 `status` of a job. */
export function resultStatusOf(job: Job, knobs: Knobs): string {
  switch (job.state) {
    case 'queued':
      return 'in_queue';
    case 'running':
      return 'in_progress';
    case 'succeeded':
      return knobs.result_success_status;
    case 'failed':
      return 'failed';
    case 'cancelled':
      return 'cancelled';
  }
}

export function outputUrls(ctx: SimContext, job: Job): string[] {
  if (job.state !== 'succeeded') return [];
  return Array.from(
    { length: job.outputCount },
    (_, index) => ctx.urls.filesBaseUrl + outputPath(job, index),
  );
}

/** `{image: url}` by default; an array under the plural key once there are several files. */
export function outputField(urls: string[], key: Knobs['output_key']): Record<string, string | string[]> {
  if (key === 'images' || key === 'videos') return { [key]: urls };
  if (urls.length === 1) return { [key]: urls[0]! };
  return { [`${key}s`]: urls };
}

const FAILURE_CODE = 500001;

/** The result's `error` in each shape clients have been seen to meet (§3.3 E3, knob `error_shape`). */
export function errorField(reason: string, shape: Knobs['error_shape']): unknown {
  switch (shape) {
    case 'object':
      return { error_code: FAILURE_CODE, error_message: reason };
    case 'string':
      return reason;
    case 'json_string':
      return JSON.stringify({ error_code: FAILURE_CODE, error_message: reason });
    case 'serverless_array':
      return [{ errorCode: FAILURE_CODE, error: reason, debugInfo: 'simulated failure' }];
  }
}
