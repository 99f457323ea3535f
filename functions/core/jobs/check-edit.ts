import {
  type CallerFields,
  editRequestSchema,
  type JobInput,
  reservedMetadataKeys,
  splitRequest,
} from '../edit-request.ts';
import type { FieldIssue } from '../errors.ts';
import { checkS3Inputs, type S3InputPolicy } from '../inputs/s3-inputs.ts';
import { toFieldIssues } from '../validation.ts';
import { checkWebhookUrl } from '../webhooks/url-policy.ts';

/** What an edit request is checked against besides its own shape: the deployment and its owner. */
export interface EditChecks {
  /** Where `s3://` inputs may come from. */
  policy: S3InputPolicy;
  /** The submitter's key: `s3://` inputs may name only their own uploads. */
  ownerKey: string;
  /** False where the deployment has no webhook queue (then no request may ask for one). */
  webhooks: boolean;
  allowLoopbackHttp: boolean;
}

export type EditCheck =
  | { ok: true; input: JobInput; caller: CallerFields }
  | { ok: false; issues: FieldIssue[] };

/**
 * Every check of an edit request, with each bad field's path: its shape (zod), its `s3://`
 * inputs (allowed locations, the owner's own uploads) and its webhook URL. `POST /edits`, the
 * event-driven submissions and each line of a batch are checked by exactly this.
 *
 * @example
 * const check = checkEditRequest(body, { policy, ownerKey, webhooks: true, allowLoopbackHttp: false });
 * if (!check.ok) throw new ValidationError('edit request is invalid', check.issues);
 */
export function checkEditRequest(raw: unknown, checks: EditChecks): EditCheck {
  const parsed = editRequestSchema({ allowLoopbackHttp: checks.allowLoopbackHttp }).safeParse(raw);
  const reserved = reservedMetadataKeys(raw);
  if (!parsed.success) return { ok: false, issues: [...toFieldIssues(parsed.error.issues), ...reserved] };
  if (reserved.length > 0) return { ok: false, issues: reserved };
  const { input, caller } = splitRequest(parsed.data);
  const issues = [
    ...checkS3Inputs(input.image_urls, checks.policy, checks.ownerKey),
    ...(caller.webhookUrl && !checks.webhooks
      ? [{ path: 'webhook_url', message: 'webhooks are not enabled on this deployment' }]
      : checkWebhookUrl(caller.webhookUrl, { allowLoopbackHttp: checks.allowLoopbackHttp })),
  ];
  return issues.length > 0 ? { ok: false, issues } : { ok: true, input, caller };
}
