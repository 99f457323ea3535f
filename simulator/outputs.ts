import { createHash } from 'node:crypto';
import { FORMAT_FILES, renderImage } from './images.ts';
import type { Job } from './job.ts';

/** Path of output `index` of a job, relative to the files base URL (§3.7). */
export function outputPath(job: Job, index: number): string {
  return `/outputs/${job.id}/${index}.${FORMAT_FILES[job.input.output_format].ext}`;
}

const DEFAULT_CACHE_BYTES = 512 * 1024 * 1024;

/**
 * Output bytes are rendered on first download and cached (least recently used out first).
 * Rendering is deterministic, so an evicted file comes back byte-identical; that keeps a
 * benchmark of many 25 MB outputs from holding them all in memory. The first render books the
 * file's size and SHA-256 on its job (`job.files`), for a soak to compare with what it stored.
 */
export class OutputFiles {
  readonly #maxBytes: number;
  #cache = new Map<string, { bytes: Promise<Buffer>; size: number }>();
  #totalBytes = 0;

  constructor(maxBytes = DEFAULT_CACHE_BYTES) {
    this.#maxBytes = maxBytes;
  }

  bytes(job: Job, index: number): Promise<Buffer> {
    const key = `${job.id}/${index}`;
    const cached = this.#cache.get(key);
    if (cached) {
      this.#cache.delete(key);
      this.#cache.set(key, cached);
      return cached.bytes;
    }
    const entry = {
      size: 0,
      bytes: renderImage({
        format: job.input.output_format,
        width: job.input.width,
        height: job.input.height,
        key: JSON.stringify([job.seed, job.input.prompt, job.input.image_urls, index]),
        minBytes: job.outputMinBytes,
      }).then((buffer) => {
        // Booked once: a re-render after eviction gives the same bytes.
        job.files[index] ??= {
          bytes: buffer.length,
          sha256: createHash('sha256').update(buffer).digest('hex'),
          downloads: 0,
        };
        return buffer;
      }),
    };
    this.#cache.set(key, entry);
    entry.bytes.then(
      (buffer) => {
        if (this.#cache.get(key) !== entry) return;
        entry.size = buffer.length;
        this.#totalBytes += buffer.length;
        this.#evict(key);
      },
      () => this.#cache.delete(key),
    );
    return entry.bytes;
  }

  reset(): void {
    this.#cache.clear();
    this.#totalBytes = 0;
  }

  #evict(keep: string): void {
    for (const [key, entry] of this.#cache) {
      if (this.#totalBytes <= this.#maxBytes) return;
      if (key === keep || entry.size === 0) continue;
      this.#cache.delete(key);
      this.#totalBytes -= entry.size;
    }
  }
}
