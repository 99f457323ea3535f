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
  /** The measured outputs (e.g. 4 x 25 MiB). */
  urls: string[];
  policy: DownloadPolicy;
}

export interface CopyRun {
  wallMs: number;
  peakRssGrowthBytes: number;
  /** Largest V8 heap used and ArrayBuffer (Buffer) memory seen while sampling, over their values before. */
  peakHeapUsedGrowthBytes: number;
  peakArrayBuffersGrowthBytes: number;
}

export interface CopyWorkerResult {
  partSizeBytes: number;
  partsInFlight: number;
  totalBytes: number;
  outputs: number;
  copy: CopyRun;
  /** S3 requests the measured copy sent, per output, by command (e.g. `{ PutObject: 1 }`). */
  copyRequestsPerOutput: Record<string, number>;
  /** The same for the warm-up copy's small outputs (a few KiB, under one part). */
  smallRequestsPerOutput: Record<string, number>;
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
  // Every request the client sends, by command (counted once per command, retries aside).
  let requests: Record<string, number> = {};
  s3.middlewareStack.add(
    (next, context) => (args) => {
      const name = (context.commandName ?? 'unknown').replace(/Command$/, '');
      requests[name] = (requests[name] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: 'benchCountRequests' },
  );
  const perOutput = (outputs: number) =>
    Object.fromEntries(Object.entries(requests).map(([name, count]) => [name, count / outputs]));
  const options = { s3, bucket: config.bucket, prefix: 'bench/', policy: config.policy };
  requests = {};
  await copyOutputs({ ...options, jobId: 'warmup', urls: config.warmUpUrls });
  const smallRequestsPerOutput = perOutput(config.warmUpUrls.length);

  let sizes: number[] = [];
  requests = {};
  const copy = await measure(async () => {
    const stored = await copyOutputs({ ...options, jobId: 'measured', urls: config.urls });
    sizes = stored.map((output) => output.sizeBytes);
  });
  const copyRequestsPerOutput = perOutput(config.urls.length);
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
    copyRequestsPerOutput,
    smallRequestsPerOutput,
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
  const usageBefore = process.memoryUsage();
  let sampledPeak = before;
  let heapPeak = usageBefore.heapUsed;
  let buffersPeak = usageBefore.arrayBuffers;
  let ticks = 0;
  const sampler = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, process.memoryUsage.rss());
    // The full breakdown walks the heap's spaces: every 10th tick only.
    if (++ticks % 10 === 0) {
      const usage = process.memoryUsage();
      heapPeak = Math.max(heapPeak, usage.heapUsed);
      buffersPeak = Math.max(buffersPeak, usage.arrayBuffers);
    }
  }, 2);
  const start = performance.now();
  await run();
  const wallMs = performance.now() - start;
  clearInterval(sampler);
  sampledPeak = Math.max(sampledPeak, process.memoryUsage.rss());
  const peak = resetOk ? Math.max(readHighWaterMark() ?? 0, sampledPeak) : sampledPeak;
  return {
    wallMs,
    peakRssGrowthBytes: peak - before,
    peakHeapUsedGrowthBytes: heapPeak - usageBefore.heapUsed,
    peakArrayBuffersGrowthBytes: buffersPeak - usageBefore.arrayBuffers,
  };
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
