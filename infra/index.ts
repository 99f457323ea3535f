export type { FunctionName, QueueName } from '../contract/index.ts';
export {
  type ApiAuthorization,
  type ApiThrottle,
  FluxEditPipeline,
  type FluxEditPipelineAlarms,
  type FluxEditPipelineProps,
  FluxEditPipelinePropsError,
  type PowertoolsLogLevel,
} from './flux-edit-pipeline.ts';
export { FluxEditPipelineStack, type FluxEditPipelineStackProps } from './stack.ts';
