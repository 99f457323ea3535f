/*
 * The measured process of the copy benchmark (started by bench/copy.ts): it runs the real
 * copyOutputs and the PutObject baselines against the emulated bucket, alone in its own process,
 * so its RSS holds nothing but the work measured (the simulator serving the bytes lives in the
 * parent). Prints one JSON line with the measurements.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '#adapters/aws/clients';
import { copyOutputs, type DownloadPolicy, PART_SIZE, PARTS_IN_FLIGHT } from '#core/outputs/index';

export interface CopyWorkerConfig {
  bucket: string;
  /** Small outputs, copied once untimed: loads the modules and opens the connections. */
  warmUpUrls: string[];
  /** The measured outputs (4 x 25 MiB). */
  urls: string[];
  policy: DownloadPolicy;
}

export interface CopyRun {
  wallMs: number;
  peakRssGrowthBytes: number;
}

export interface CopyWorkerResult {
  partSizeBytes: number;
  partsInFlight: number;
  totalBytes: number;
  outputs: number;
  copy: CopyRun;
  singlePut: CopyRun;
  parallelPuts: CopyRun;
  /** How the peak was read: the kernel's high-water mark, or sampling when that is unavailable. */
  peakSource: 'VmHWM' | 'sampled';
}

const config = JSON.parse(process.env.BENCH_COPY_CONFIG ?? '{}') as CopyWorkerConfig;
const gc = (globalThis as { gc?: () => void }).gc;

/**
 * One measurement per (fresh) process: memory the copy has touched once stays in the process
 * and would be reused unseen by a second copy, so only the first copy shows its real peak.
 */
async function main(): Promise<void> {
  const s3 = createS3Client();
  await s3.send(new CreateBucketCommand({ Bucket: config.bucket })).catch(() => {});
  const options = { s3, bucket: config.bucket, prefix: 'bench/', policy: config.policy };
  await copyOutputs({ ...options, jobId: 'warmup', urls: config.warmUpUrls });

  let sizes: number[] = [];
  const copy = await measure(async () => {
    const stored = await copyOutputs({ ...options, jobId: 'measured', urls: config.urls });
    sizes = stored.map((output) => output.sizeBytes);
  });
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  // The baselines' bytes are in memory before their clocks start: they are the "from memory".
  const whole = Buffer.alloc(totalBytes, 0x5a);
  const parts = sizes.map((size) => Buffer.alloc(size, 0x5a));
  const singlePut = await measure(() => putOnce(s3, 'bench/single-put', whole));
  const parallelPuts = await measure(() =>
    Promise.all(parts.map((body, index) => putOnce(s3, `bench/parallel-${index}`, body))),
  );
  const result: CopyWorkerResult = {
    partSizeBytes: PART_SIZE,
    partsInFlight: PARTS_IN_FLIGHT,
    totalBytes,
    outputs: sizes.length,
    copy,
    singlePut,
    parallelPuts,
    peakSource: resetPeak() ? 'VmHWM' : 'sampled',
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  s3.destroy();
}

async function putOnce(s3: S3Client, key: string, body: Buffer): Promise<void> {
  await s3.send(
    new PutObjectCommand({ Bucket: config.bucket, Key: key, Body: body, ContentType: 'image/png' }),
  );
}

/** Wall time and peak RSS growth of one run, from a collected heap and a reset high-water mark. */
async function measure(run: () => Promise<unknown>): Promise<CopyRun> {
  gc?.();
  gc?.();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const resetOk = resetPeak();
  const before = process.memoryUsage.rss();
  let sampledPeak = before;
  const sampler = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, process.memoryUsage.rss());
  }, 2);
  const start = performance.now();
  await run();
  const wallMs = performance.now() - start;
  clearInterval(sampler);
  sampledPeak = Math.max(sampledPeak, process.memoryUsage.rss());
  const peak = resetOk ? Math.max(readHighWaterMark() ?? 0, sampledPeak) : sampledPeak;
  return { wallMs, peakRssGrowthBytes: peak - before };
}

/** Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS. */
function resetPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return readHighWaterMark() !== undefined;
  } catch {
    return false;
  }
}

function readHighWaterMark(): number | undefined {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

await main();
