import * as z from 'zod/mini';
import { CallerReferenceSchema } from './caller-reference.ts';
import { type EditInput, EditInputSchema, MAX_URL_CHARS } from './edit-input.ts';
import type { FieldIssue } from './errors.ts';
import { IMAGE_REFERENCE, PUBLIC_HTTPS_URL, SINGLE_LINE, text } from './validation.ts';

export { CallerReferenceSchema } from './caller-reference.ts';

/** `s3://bucket/key`: an input the pipeline presigns for RunComfy (see `inputs/s3-inputs.ts`). */
export { S3_URI } from './validation.ts';

export const MAX_METADATA_KEYS = 10;
export const METADATA_KEY = /^[A-Za-z0-9_.:-]{1,64}$/;

const imageReference = text({
  max: MAX_URL_CHARS,
  pattern: IMAGE_REFERENCE,
  patternMessage: 'must be an https:// URL or an s3://bucket/key URI',
  description:
    'An https:// URL to a host name or IPv4 address (no IPv6 literal, no user name or password), or an s3://bucket/key URI. An s3:// URI must lie in a location the deployment allows (by default the caller’s own uploads from POST /uploads) and its key must not contain `..`: a deployment setting, so not expressible here.',
});

/** Where the signed completion event goes, as the API documents it (the local runtime relaxes it). */
export const WebhookUrlSchema = text({
  max: MAX_URL_CHARS,
  pattern: PUBLIC_HTTPS_URL,
  patternMessage: 'must be an https:// URL to a DNS name (not an IP address or a name without a dot)',
  description:
    'An https:// URL to a DNS name with a dot (no IP literal, no user name or password). Also refused: names under `.localhost` and `.internal`, and any URL when the deployment has webhooks off.',
});

/**
 * In the local runtime only: also plain `http://` to a loopback address, so tests can receive
 * webhooks on the laptop. Not part of the API's document, which describes a deployment.
 */
const LOOPBACK_HTTP_URL =
  /^http:\/\/(?:127(?:\.[0-9]{1,3}){3}|localhost|\[::1\])(?::[0-9]{1,5})?(?:[/?#][!-~]*)?$/;
const LocalWebhookUrlSchema = text({ max: MAX_URL_CHARS }).check(
  z.refine(
    (value) => PUBLIC_HTTPS_URL.test(value) || LOOPBACK_HTTP_URL.test(value),
    'must be an https:// URL to a DNS name, or (locally) an http:// URL to a loopback address',
  ),
);

const requestShape = {
  ...EditInputSchema.shape,
  image_urls: z
    .array(imageReference, 'must be an array of image URLs')
    .check(z.minLength(1, 'needs at least 1 image URL'), z.maxLength(4, 'allows at most 4 image URLs')),
  caller_reference: z.optional(CallerReferenceSchema),
  metadata: z.optional(
    z
      .record(
        z.string().check(
          z.regex(METADATA_KEY, 'keys are 1–64 of A-Z a-z 0-9 _ . : -'),
          // zod drops a `__proto__` key unseen: refused by `reservedMetadataKeys`, stated here.
          z.meta({ not: { const: '__proto__' } }),
        ),
        text({
          max: 256,
          pattern: SINGLE_LINE,
          patternMessage: 'values must not contain control characters',
        }),
        'must be an object of string values',
      )
      .check(
        z.refine(
          (value) => Object.keys(value).length <= MAX_METADATA_KEYS,
          `allows at most ${MAX_METADATA_KEYS} keys`,
        ),
        z.meta({
          maxProperties: MAX_METADATA_KEYS,
          description:
            'Up to 10 pairs, echoed on the job and every event. Values: at most 256 characters, no control characters, well-formed Unicode.',
        }),
      ),
  ),
  webhook_url: z.optional(WebhookUrlSchema),
};

/**
 * An edit request as callers send it (HTTP body, queue message, event detail, direct invoke):
 * the model's input, where images may also be `s3://` URIs, plus the caller's own fields that
 * are echoed on the job and in every event. Unknown keys are refused, so that a misspelt
 * option (`imageSize`) is an error rather than silently ignored. This schema is the API's
 * document (openapi.json); what it cannot express is in its fields' descriptions and checked
 * by the submit core (s3:// locations, the webhook host's name).
 */
export const EditRequestSchema = z.strictObject(requestShape).check(
  z.meta({
    examples: [
      {
        prompt: 'Change the flowers and cup to red, and a bright background',
        image_urls: ['https://playgrounds-storage-public.runcomfy.net/tools/7298/media-files/input-1-1.png'],
      },
      {
        prompt: 'Put the cup on the saucer\nand make the background white',
        image_urls: ['https://example.com/images/cup.png', 'https://images.example.org:8443/saucer.jpg?v=2'],
        guidance_scale: 4,
        seed: 42,
        image_size: 'landscape_4_3',
        output_format: 'webp',
        caller_reference: 'order-1234',
        metadata: { customer: 'c-42', 'campaign.id': 'spring:2026' },
        webhook_url: 'https://hooks.example.com/flux?source=pipeline',
      },
    ],
  }),
);

/** The request schema as a deployment applies it: the local runtime also takes loopback http webhooks. */
export function editRequestSchema(policy: { allowLoopbackHttp: boolean }) {
  return policy.allowLoopbackHttp
    ? z.strictObject({ ...requestShape, webhook_url: z.optional(LocalWebhookUrlSchema) })
    : EditRequestSchema;
}

export type EditRequest = z.infer<typeof EditRequestSchema>;

/**
 * A `metadata` key named `__proto__` in the raw request: refused, not lost. Every JavaScript
 * object drops it (it names the prototype), and so does zod's record, without an issue.
 */
export function reservedMetadataKeys(raw: unknown): FieldIssue[] {
  const metadata =
    typeof raw === 'object' && raw !== null ? (raw as { metadata?: unknown }).metadata : undefined;
  return typeof metadata === 'object' && metadata !== null && Object.hasOwn(metadata, '__proto__')
    ? [{ path: 'metadata/__proto__', message: 'the key __proto__ is reserved' }]
    : [];
}

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
