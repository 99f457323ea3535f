/*
 * The stored output's shape on its own, free of any SDK import: the job record, the job view
 * and the package's client types name it, and a consumer of the client or the webhook verifier
 * installs no AWS SDK (its declarations must resolve without one, even with `skipLibCheck: false`).
 */

/** One output of a job, as stored in the bucket. */
export interface StoredOutput {
  /** Position of the output in the job's result. */
  index: number;
  s3Uri: string;
  bucket: string;
  key: string;
  /** Sniffed from the bytes, not taken from the download's headers. */
  contentType: string;
  sizeBytes: number;
  /** Hex SHA-256 of the stored bytes. */
  sha256: string;
  sourceUrl: string;
}
