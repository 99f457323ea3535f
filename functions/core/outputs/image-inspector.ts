import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { OutputCopyError } from './errors.ts';
import { type ImageType, SNIFF_BYTES, sniffImageType } from './image-sniff.ts';

interface Settle {
  resolve: (type: ImageType) => void;
  reject: (error: Error) => void;
}

/**
 * A pass-through stream that checks a download on its way to S3 without ever holding more than a
 * chunk: it counts bytes (failing with `too_large` as soon as the cap is passed), hashes them
 * (SHA-256, incrementally) and sniffs the first {@link SNIFF_BYTES} bytes. Until the sniff says
 * "image", nothing is passed on, so a consumer that starts after {@link imageType} resolves never
 * sees a byte of anything else.
 *
 * @example
 * const inspector = new ImageInspector({ maxBytes: 50 * 1024 * 1024, url });
 * pipeline(Readable.fromWeb(response.body), inspector).catch(() => {});
 * const type = await inspector.imageType; // then read `inspector` to its end
 * console.log(inspector.sizeBytes, inspector.sha256);
 */
export class ImageInspector extends Transform {
  /** Resolves once the first bytes are known to be an image; rejects if they are not, or the stream fails first. */
  readonly imageType: Promise<ImageType>;
  readonly #maxBytes: number;
  readonly #url: string;
  readonly #hash: Hash | undefined;
  #bytes = 0;
  #digest: string | undefined;
  /** Chunks held back until the sniff decides; together at most SNIFF_BYTES - 1 bytes plus one chunk. */
  #held: Buffer[] = [];
  #heldBytes = 0;
  #type: ImageType | undefined;
  #settle: Settle;

  /**
   * `hash: false` leaves the hashing to whoever reads the stream (a streamed upload whose SDK
   * hashes the bytes anyway): one pass of SHA-256 over the body instead of two.
   */
  constructor(options: { maxBytes: number; url: string; hash?: boolean }) {
    super();
    this.#maxBytes = options.maxBytes;
    this.#url = options.url;
    this.#hash = options.hash === false ? undefined : createHash('sha256');
    let settle!: Settle;
    this.imageType = new Promise<ImageType>((resolve, reject) => {
      settle = { resolve, reject };
    });
    this.#settle = settle;
    // A caller that stops caring (another output failed first) must not leave an unhandled rejection.
    this.imageType.catch(() => {});
  }

  /** Bytes seen so far; the full size once the stream has ended. */
  get sizeBytes(): number {
    return this.#bytes;
  }

  /** Hex SHA-256 of the whole body; only available once the stream has ended, and if hashing. */
  get sha256(): string {
    if (this.#digest === undefined)
      throw new Error('sha256 is known only after the stream has ended, and only when hashing');
    return this.#digest;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.byteLength;
    if (this.#bytes > this.#maxBytes) {
      callback(
        new OutputCopyError('too_large', this.#url, `output is larger than the ${this.#maxBytes}-byte limit`),
      );
      return;
    }
    this.#hash?.update(chunk);
    if (this.#type !== undefined) {
      callback(null, chunk);
      return;
    }
    this.#held.push(chunk);
    this.#heldBytes += chunk.byteLength;
    if (this.#heldBytes < SNIFF_BYTES) {
      callback();
      return;
    }
    callback(this.#decide());
  }

  override _flush(callback: TransformCallback): void {
    if (this.#type === undefined) {
      callback(
        new OutputCopyError(
          'not_an_image',
          this.#url,
          `output ended after ${this.#bytes} bytes, too short for an image`,
        ),
      );
      return;
    }
    this.#digest = this.#hash?.digest('hex');
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#held = [];
    this.#settle.reject(error ?? new Error('stream closed before its first bytes arrived'));
    callback(error);
  }

  /** Sniffs the held head; on success releases the held chunks, otherwise returns the refusal. */
  #decide(): OutputCopyError | null {
    // The head may be split over several tiny chunks; copy just the bytes the sniff needs.
    const head = Buffer.alloc(SNIFF_BYTES);
    let filled = 0;
    for (const chunk of this.#held) {
      if (filled >= SNIFF_BYTES) break;
      filled += chunk.copy(head, filled, 0, SNIFF_BYTES - filled);
    }
    const type = sniffImageType(head);
    if (type === undefined) {
      return new OutputCopyError(
        'not_an_image',
        this.#url,
        'output is not a PNG, JPEG, WebP, GIF or AVIF image',
      );
    }
    this.#type = type;
    for (const chunk of this.#held) this.push(chunk);
    this.#held = [];
    this.#settle.resolve(type);
    return null;
  }
}
