export {
  type CopyOutputsOptions,
  copyOutputs,
  PART_SIZE,
  PARTS_IN_FLIGHT,
  type StoredOutput,
} from './copy-outputs.ts';
export { checkDownloadUrl, type DownloadPolicy, hostMatches, isLoopbackHost } from './download-policy.ts';
export { OutputCopyError, type OutputCopyReason } from './errors.ts';
export { ImageInspector } from './image-inspector.ts';
export { IMAGE_TYPES, type ImageType, SNIFF_BYTES, sniffImageType } from './image-sniff.ts';
export { redactUrl } from './redact-url.ts';
