import { DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { OUTPUT_DOWNLOAD_TIMEOUT_MS } from '#contract/budgets';
import { copyOutputs, type DownloadPolicy, type StoredOutput } from '#core/outputs/index';
import type { Log, OutputStore, Presigner } from '#core/ports';

/** Job outputs in the stack's bucket, under `<prefix><jobId>/`. */
export class S3OutputStore implements OutputStore {
  constructor(
    private readonly s3: S3Client,
    private readonly presigner: Presigner,
    private readonly options: { bucket: string; prefix: string; policy: DownloadPolicy; log: Log },
  ) {}

  copy(jobId: string, urls: readonly string[]): Promise<StoredOutput[]> {
    return copyOutputs({
      s3: this.s3,
      bucket: this.options.bucket,
      prefix: this.options.prefix,
      jobId,
      urls: [...urls],
      policy: this.options.policy,
      log: this.options.log,
      timeoutMs: OUTPUT_DOWNLOAD_TIMEOUT_MS,
    });
  }

  async deleteJobOutputs(jobId: string, keep: readonly string[] = []): Promise<number> {
    const prefix = `${this.options.prefix}${jobId}/`;
    let removed = 0;
    let token: string | undefined;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      const keys = (page.Contents ?? [])
        .map((object) => object.Key as string)
        .filter((key) => !keep.includes(key));
      if (keys.length > 0) {
        await this.s3.send(
          new DeleteObjectsCommand({
            Bucket: this.options.bucket,
            Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
          }),
        );
        removed += keys.length;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return removed;
  }

  presignGet(output: Pick<StoredOutput, 'bucket' | 'key'>, expiresInSeconds: number): Promise<string> {
    return this.presigner.get(output.bucket, output.key, expiresInSeconds);
  }
}
