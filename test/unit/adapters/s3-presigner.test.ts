import { describe, expect, it } from 'vitest';
import { createS3Client } from '#adapters/aws/clients';
import { S3Presigner } from '#adapters/aws/s3-presigner';

describe('Class: S3Presigner', () => {
  it('presigns an upload PUT without a checksum of an empty body, which S3 would hold the file to', async () => {
    // Prepare: credentials and a region to sign with (nothing is sent)
    process.env.AWS_ACCESS_KEY_ID ??= 'test';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
    process.env.AWS_REGION ??= 'us-east-1';
    const presigner = new S3Presigner(createS3Client({}));

    // Act
    const url = new URL(
      await presigner.put('bucket', 'uploads/a.png', { contentType: 'image/png', contentLength: 10 }, 60),
    );

    // Assess
    expect([...url.searchParams.keys()].filter((name) => name.toLowerCase().includes('checksum'))).toEqual(
      [],
    );
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;content-type;host');
  });
});
