import { createHash } from 'node:crypto';
import type { StoredOutput } from '#core/outputs/index';
import type { OutputStore } from '#core/ports';

/**
 * The output bucket in memory. `copy` stores one object per URL (its bytes are the URL's text),
 * or throws whatever `failNext` says, to script download and upload failures.
 */
export class MemoryOutputStore implements OutputStore {
  readonly objects = new Map<string, string>();
  /** Called before each copy: throw to fail it (e.g. a retryable `OutputCopyError`). */
  failNext?: (jobId: string, urls: readonly string[]) => void;

  constructor(
    private readonly options: { bucket: string; prefix: string } = { bucket: 'outputs', prefix: 'edits/' },
  ) {}

  async copy(jobId: string, urls: readonly string[]): Promise<StoredOutput[]> {
    const fail = this.failNext;
    this.failNext = undefined;
    fail?.(jobId, urls);
    return urls.map((url, index) => {
      const key = `${this.options.prefix}${jobId}/${index}.png`;
      this.objects.set(key, url);
      return {
        index,
        s3Uri: `s3://${this.options.bucket}/${key}`,
        bucket: this.options.bucket,
        key,
        contentType: 'image/png',
        sizeBytes: url.length,
        sha256: createHash('sha256').update(url).digest('hex'),
        sourceUrl: url,
      };
    });
  }

  async deleteJobOutputs(jobId: string, keep: readonly string[] = []): Promise<number> {
    let removed = 0;
    for (const key of [...this.objects.keys()]) {
      if (key.startsWith(`${this.options.prefix}${jobId}/`) && !keep.includes(key)) {
        this.objects.delete(key);
        removed += 1;
      }
    }
    return removed;
  }

  async presignGet(output: Pick<StoredOutput, 'bucket' | 'key'>, expiresInSeconds: number): Promise<string> {
    return `memory://${output.bucket}/${output.key}?expires=${expiresInSeconds}`;
  }

  /** Keys stored under a job's prefix. */
  keysOf(jobId: string): string[] {
    return [...this.objects.keys()].filter((key) => key.startsWith(`${this.options.prefix}${jobId}/`));
  }
}
