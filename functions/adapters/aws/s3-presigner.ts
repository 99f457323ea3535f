import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Presigner } from '#core/ports';

/** Presigned S3 URLs, the one place they are made (outputs, `s3://` inputs, uploads). */
export class S3Presigner implements Presigner {
  constructor(private readonly s3: S3Client) {}

  get(bucket: string, key: string, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(this.s3, new GetObjectCommand({ Bucket: bucket, Key: key }), {
      expiresIn: expiresInSeconds,
    });
  }

  put(
    bucket: string,
    key: string,
    object: { contentType: string; contentLength: number },
    expiresInSeconds: number,
  ): Promise<string> {
    return getSignedUrl(
      this.s3,
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        ContentType: object.contentType,
        ContentLength: object.contentLength,
      }),
      { expiresIn: expiresInSeconds, signableHeaders: new Set(['content-type', 'content-length']) },
    );
  }
}
