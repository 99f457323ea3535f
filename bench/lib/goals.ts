import type { Spread } from './stats.ts';

/** One goal of one case: its figure (with its spread), what it is judged against, and the verdict. */
export interface GoalFigure {
  /** Stable id, e.g. `cold-start.poller.init-ratio`. */
  id: string;
  /** What the figure is, for the summary table. */
  label: string;
  unit: string;
  figure: Spread;
  /** Which statistic of the spread the goal is judged on. */
  judgedOn: 'min' | 'median' | 'max';
  goal: { op: '<=' | '>=' | '=='; value: number };
  /** What the figure is a ratio to (measured in the same run), or why it is absolute. */
  baseline: string;
  met: boolean;
}

/** A goal as results.json keeps it: which case, and when it was measured. */
export interface GoalRecord extends GoalFigure {
  case: string;
  measuredAt: string;
}

/** A figure with its goal, judged: the one way cases build their GoalFigures. */
export function goal(
  fields: Omit<GoalFigure, 'met' | 'judgedOn'> & { judgedOn?: GoalFigure['judgedOn'] },
): GoalFigure {
  const judgedOn = fields.judgedOn ?? 'median';
  const value = fields.figure[judgedOn];
  const met =
    fields.goal.op === '<='
      ? value <= fields.goal.value
      : fields.goal.op === '>='
        ? value >= fields.goal.value
        : value === fields.goal.value;
  return { ...fields, judgedOn, met: Number.isFinite(value) && met };
}
