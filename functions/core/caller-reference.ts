import { ATTRIBUTE_TEXT, text } from './validation.ts';

/*
 * In a module of its own: the jobs list filters by it, and importing it from `edit-request.ts`
 * built the whole edit request's schemas at the jobs function's cold start.
 */

/** Your own id for the job: echoed on it and in every event, and an SNS message attribute. */
export const CallerReferenceSchema = text({
  min: 1,
  max: 128,
  pattern: ATTRIBUTE_TEXT,
  patternMessage: 'must not contain control characters, U+FFFE or U+FFFF (it is an SNS message attribute)',
  description:
    'Your own id, echoed on the job and every event, and an SNS message attribute: 1–128 characters, none of them a control character, U+FFFE or U+FFFF; well-formed Unicode.',
});
