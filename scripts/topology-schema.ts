/**
 * Writes docs/topology.schema.json from the TypeBox schema of topology files
 * (src/cli/topology/schema.ts): `npx tsx scripts/topology-schema.ts`. A unit test fails when the
 * published file and the schema differ.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publishedSchemaText } from '../src/cli/topology/schema.js';

const file = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'topology.schema.json');
writeFileSync(file, publishedSchemaText());
process.stdout.write(`wrote ${file}\n`);
