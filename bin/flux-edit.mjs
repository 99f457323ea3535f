#!/usr/bin/env node
// The npm bin of flux-edit: the CLI is TypeScript, so register tsx's loader before importing it.
import { register } from 'tsx/esm/api';

register();
await import('../client/cli.ts');
