import * as z from 'zod/mini';
import { type EditInput, EditInputSchema } from './edit-input.ts';

/** `s3://bucket/key`: an input the pipeline presigns for RunComfy (see `inputs/s3-inputs.ts`). */
export const S3_URI = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/;

const isHttpsUrl = (value: string) => {
  try {
    return new URL(value).protocol === 'https:';
  } catch {
    return false;
  }
};

const imageReference = z
  .string('must be a string')
  .check(
    z.refine(
      (value) => isHttpsUrl(value) || S3_URI.test(value),
      'must be an https:// URL or an s3://bucket/key URI',
    ),
  );

/**
 * An edit request as callers send it (HTTP body, queue message, event detail, direct invoke):
 * the model's input, where images may also be `s3://` URIs, plus the caller's own fields that
 * are echoed on the job and in every event. Unknown keys are refused, so that a misspelt
 * option (`imageSize`) is an error rather than silently ignored.
 */
export const EditRequestSchema = z.strictObject({
  ...EditInputSchema.shape,
  image_urls: z
    .array(imageReference, 'must be an array of image URLs')
    .check(z.minLength(1, 'needs at least 1 image URL'), z.maxLength(4, 'allows at most 4 image URLs')),
  caller_reference: z.optional(z.string('must be a string').check(z.minLength(1), z.maxLength(128))),
  metadata: z.optional(
    z
      .record(
        z.string().check(z.regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'keys are 1–64 of A-Z a-z 0-9 _ . : -')),
        z.string('values must be strings').check(z.maxLength(256, 'values are at most 256 characters')),
      )
      .check(z.refine((value) => Object.keys(value).length <= 10, 'allows at most 10 keys')),
  ),
  // Which URLs may be used (https; http to loopback only in the local runtime) is the submit
  // core's call: it knows the deployment (see `checkWebhookUrl`).
  webhook_url: z.optional(z.string('must be a string').check(z.minLength(1), z.maxLength(2048))),
});

export type EditRequest = z.infer<typeof EditRequestSchema>;

/** The model input as stored on the job: images may still be `s3://` URIs until submission. */
export type JobInput = Omit<EditInput, 'image_urls'> & { image_urls: string[] };

export interface CallerFields {
  callerReference?: string;
  metadata?: Record<string, string>;
  webhookUrl?: string;
}

export function splitRequest(request: EditRequest): { input: JobInput; caller: CallerFields } {
  const { caller_reference, metadata, webhook_url, ...input } = request;
  return { input, caller: { callerReference: caller_reference, metadata, webhookUrl: webhook_url } };
}
