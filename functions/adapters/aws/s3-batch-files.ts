import {
  CopyObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { MANIFEST_COPY_TIMEOUT_MS } from '#contract/budgets';
import type { BatchFiles, Presigner } from '#core/ports';

/**
 * The files of batches in the stack's bucket — the batch's own copy of its lines, its invalid
 * lines, its results manifest — and the callers' manifests they are copied from.
 */
export class S3BatchFiles implements BatchFiles {
  constructor(
    private readonly s3: S3Client,
    private readonly presigner: Presigner,
    private readonly bucket: string,
  ) {}

  async head(location: { bucket: string; key: string }) {
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: location.bucket, Key: location.key }));
      return { sizeBytes: head.ContentLength ?? 0, etag: head.ETag ?? '' };
    } catch (error) {
      if (error instanceof NotFound || error instanceof NoSuchKey) return undefined;
      throw error;
    }
  }

  async copy(from: { bucket: string; key: string; etag: string }, key: string): Promise<void> {
    await this.s3.send(
      new CopyObjectCommand({
        Bucket: this.bucket,
        Key: key,
        CopySource: `${from.bucket}/${from.key.split('/').map(encodeURIComponent).join('/')}`,
        // Exactly the version that was sized: a manifest replaced meanwhile fails the copy.
        CopySourceIfMatch: from.etag,
        ContentType: 'application/x-ndjson',
        MetadataDirective: 'REPLACE',
      }),
      { requestTimeout: MANIFEST_COPY_TIMEOUT_MS },
    );
  }

  async put(
    key: string,
    body: string,
    options: { contentType?: string; metadata?: Record<string, string> } = {},
  ): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentType: options.contentType ?? 'application/x-ndjson',
        Metadata: options.metadata,
      }),
    );
  }

  async *read(
    key: string,
    options: { range?: { start: number; end: number }; signal?: AbortSignal } = {},
  ): AsyncIterable<Uint8Array> {
    const { range, signal } = options;
    // An empty range reads nothing (S3 would refuse `bytes=n-(n-1)`).
    if (range && range.end <= range.start) return;
    const object = await this.s3.send(
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: key,
        ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}),
      }),
      { abortSignal: signal },
    );
    yield* object.Body as AsyncIterable<Uint8Array>;
  }

  presignGet(key: string, expiresInSeconds: number): Promise<string> {
    return this.presigner.get(this.bucket, key, expiresInSeconds);
  }
}
