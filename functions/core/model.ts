/**
 * The model every job runs: RunComfy's FLUX.2 [flash] edit. In a module of its own so the RunComfy
 * client can name it without building the edit input's schemas (`edit-input.ts`) at cold start.
 */
export const MODEL_ID = 'blackforestlabs/flux-2/flash/edit';
