#!/usr/bin/env node
// `npx queue-service <command>`: runs the TypeScript CLI through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
