import type { Construct } from 'constructs';

export function acknowledgeFindings(_pipeline: Construct): void {}
