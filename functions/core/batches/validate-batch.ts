import { MANIFEST_READ_TIMEOUT_MS } from '#contract/budgets';
import { DEFAULTS } from '#contract/config';
import { S3_URI } from '../edit-request.ts';
import { iso } from '../jobs/job.ts';
import { BATCH_LIMITS, type Batch, type BatchLineIssue, batchFileKey } from './batch.ts';
import { BATCH_STALL_MS, type BatchDeps } from './deps.ts';
import { type ManifestReport, splitLines, validateManifest } from './lines.ts';
import { afterChunk } from './progress.ts';

export type ValidateOutcome = 'dropped' | 'refused' | 'planned';

/**
 * The validation step: snapshots a manifest batch's manifest (a server-side copy of exactly the
 * version sized, so a manifest replaced meanwhile cannot change the batch), streams it line by
 * line through every check an edit request gets, and plans its chunks. Bad lines either refuse
 * the batch (`on_invalid=refuse`) or are skipped; either way every one is written to the batch's
 * `invalid.jsonl` with its line and field paths, and the first few kept on the batch. Then the
 * chunks are queued, each of which makes its lines' jobs.
 *
 * Run again on a batch already `creating` (the sweeper, after a lost chunk), it plans the same
 * chunks again and queues those not done yet.
 */
export async function validateBatch(deps: BatchDeps, batchId: string): Promise<ValidateOutcome> {
  const batch = await deps.batches.get(batchId);
  if (!batch || (batch.status !== 'validating' && batch.status !== 'creating')) return 'dropped';
  const linesKey = batchFileKey(deps.config.outputPrefix, batch.id, 'lines.jsonl');

  if (batch.status === 'validating' && batch.source === 'manifest') {
    const refusal = await snapshotManifest(deps, batch, linesKey);
    if (refusal) return refuse(deps, batch, refusal);
  }
  const report = await readManifest(deps, batch, linesKey);

  if (batch.status === 'validating') {
    if (report.tooManyLines) {
      return refuse(deps, batch, {
        code: 'TOO_MANY_LINES',
        message: `the manifest holds more than ${BATCH_LIMITS.manifestLines} edit requests`,
      });
    }
    if (report.requests === 0) {
      return refuse(deps, batch, { code: 'MANIFEST_EMPTY', message: 'the manifest holds no edit request' });
    }
    if (report.invalidLines > 0) await writeInvalidLines(deps, batch, report.issues);
    const refused = report.invalidLines > 0 && batch.onInvalid === 'refuse';
    const recorded = await deps.batches.recordValidation(
      batch.id,
      {
        status: refused ? 'refused' : 'creating',
        lines: report.requests,
        invalidLines: report.invalidLines,
        errors: report.issues.slice(0, BATCH_LIMITS.recordedErrors),
        ...(refused
          ? {
              error: {
                code: 'INVALID_LINES',
                message: `${report.invalidLines} lines are invalid; fix them, or submit with on_invalid=skip to leave them out`,
              },
            }
          : { chunkCount: report.chunks.length }),
      },
      refused ? undefined : iso(deps.clock.now() + BATCH_STALL_MS),
    );
    if (!recorded) return 'dropped';
    deps.log.info(refused ? 'batch refused: invalid lines' : 'batch validated', {
      batchId: batch.id,
      lines: report.requests,
      invalidLines: report.invalidLines,
      chunks: report.chunks.length,
    });
    if (refused) return 'refused';
  }

  const done = new Set(batch.chunksDone ?? []);
  const chunks = report.chunks.filter((chunk) => !done.has(chunk.chunk));
  if (chunks.length > 0) {
    await deps.queues.scheduleBatch(
      chunks.map((chunk) => ({ batchId: batch.id, step: 'create' as const, ...chunk })),
    );
  } else {
    // No chunk to make (every line skipped as invalid, or all done): the batch moves on now.
    const current = await deps.batches.get(batch.id);
    if (current) await afterChunk(deps, current);
  }
  return 'planned';
}

type Refusal = { code: string; message: string };

/** Copies the caller's manifest to the batch's own `lines.jsonl`; a refusal if it cannot be used. */
async function snapshotManifest(
  deps: BatchDeps,
  batch: Batch,
  linesKey: string,
): Promise<Refusal | undefined> {
  const [, bucket = '', key = ''] = S3_URI.exec(batch.manifestUri ?? '') ?? [];
  const head = await deps.files.head({ bucket, key });
  if (!head) return { code: 'MANIFEST_NOT_FOUND', message: `there is no manifest at ${batch.manifestUri}` };
  if (head.sizeBytes > BATCH_LIMITS.manifestBytes) {
    return {
      code: 'MANIFEST_TOO_LARGE',
      message: `the manifest has ${head.sizeBytes} bytes; at most ${BATCH_LIMITS.manifestBytes} are accepted`,
    };
  }
  await deps.files.copy({ bucket, key, etag: head.etag }, linesKey);
  return undefined;
}

/** Streams the batch's lines through validation, within the step's budget. */
async function readManifest(deps: BatchDeps, batch: Batch, linesKey: string): Promise<ManifestReport> {
  const signal = AbortSignal.timeout(MANIFEST_READ_TIMEOUT_MS);
  return validateManifest(
    splitLines(deps.files.read(linesKey, { signal })),
    {
      policy: deps.inputs.policy,
      ownerKey: batch.ownerKey,
      webhooks: Boolean(deps.queues.scheduleWebhook),
      allowLoopbackHttp: deps.config.allowLoopbackHttp,
    },
    {
      maxLines: BATCH_LIMITS.manifestLines,
      chunkLines: deps.config.batchChunkLines ?? DEFAULTS.batchChunkLines,
    },
  );
}

/** Every bad line, one JSON document per line: `{"line": 3, "errors": [{"path", "message"}]}`. */
async function writeInvalidLines(deps: BatchDeps, batch: Batch, issues: BatchLineIssue[]): Promise<void> {
  const byLine = new Map<number, { path: string; message: string }[]>();
  for (const { line, path, message } of issues) {
    const errors = byLine.get(line) ?? [];
    errors.push({ path, message });
    byLine.set(line, errors);
  }
  const text = [...byLine].map(([line, errors]) => JSON.stringify({ line, errors })).join('\n');
  await deps.files.put(batchFileKey(deps.config.outputPrefix, batch.id, 'invalid.jsonl'), `${text}\n`);
}

async function refuse(deps: BatchDeps, batch: Batch, error: Refusal): Promise<ValidateOutcome> {
  deps.log.info('batch refused', { batchId: batch.id, code: error.code });
  const recorded = await deps.batches.recordValidation(
    batch.id,
    { status: 'refused', lines: 0, invalidLines: 0, errors: [], error },
    undefined,
  );
  return recorded ? 'refused' : 'dropped';
}
