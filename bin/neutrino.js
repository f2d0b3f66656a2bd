#!/usr/bin/env node
// The neutrino command. Runs the TypeScript sources through tsx, so the checkout works as is.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
