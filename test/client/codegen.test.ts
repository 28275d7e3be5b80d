/**
 * The SDK's generated files are what their generators make today: the schema clients see through the dev
 * endpoint (src/client/schema/schema.graphql), the typed operations (src/client/generated/operations.ts), and
 * the realtime operations equal the realtime README's documents.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, print, type OperationDefinitionNode } from 'graphql';
import YAML from 'yaml';
import { packageRoot } from '../../src/core/paths.js';
import { HASURA_SCALARS_TS } from '../../src/core/hasura-scalars.js';
import { clientSchemaSdl } from '../../src/dev/client-schema.js';
import { CLIENT_SCHEMA_PLUGINS } from '../../src/cli/commands/sdk.js';
import { REALTIME_DOCUMENTS } from '../../src/plugins/realtime/documents.js';
import { createScratchDatabase } from '../support/db.js';

const read = (p: string) => readFileSync(join(packageRoot, p), 'utf8');

describe('client codegen', () => {
  test('src/client/generated/operations.ts equals a fresh run of codegen.client.yml (run `npm run codegen` when this fails)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nself-client-codegen-'));
    try {
      const config = YAML.parse(read('codegen.client.yml')) as { schema: string; documents: string; generates: Record<string, unknown> };
      const out = join(dir, 'operations.ts');
      writeFileSync(
        join(dir, 'codegen.yml'),
        YAML.stringify({ schema: join(packageRoot, config.schema), documents: join(packageRoot, config.documents), generates: { [out]: config.generates['src/client/generated/operations.ts'] } }),
      );
      await promisify(execFile)(join(packageRoot, 'node_modules/.bin/graphql-codegen'), ['--config', join(dir, 'codegen.yml'), '--silent'], { cwd: packageRoot, timeout: 120_000 });
      expect(read('src/client/generated/operations.ts')).toBe(readFileSync(out, 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  test('scalars are mapped as HASURA_SCALARS_TS says', () => {
    const config = YAML.parse(read('codegen.client.yml')) as { generates: Record<string, { config: { scalars: unknown } }> };
    expect(config.generates['src/client/generated/operations.ts']!.config.scalars).toEqual(HASURA_SCALARS_TS);
  });

  test('src/client/schema/schema.graphql is the schema `nself-plugins dev` serves (run `nself-plugins sdk --schema-only` when this fails)', async () => {
    const db = await createScratchDatabase('sdk_schema');
    const dataDir = mkdtempSync(join(tmpdir(), 'nself-sdk-schema-'));
    try {
      const sdl = await clientSchemaSdl({ DATABASE_URL: db.url, DATA_DIR: dataDir, JOBS_DIR: join(dataDir, 'no-jobs') }, { plugins: CLIENT_SCHEMA_PLUGINS });
      expect(read('src/client/schema/schema.graphql')).toBe(sdl);
    } finally {
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);

  test("the realtime module's operations are the realtime README's documents", () => {
    const ops = new Map(
      parse(read('src/client/operations/realtime.graphql')).definitions.map((d) => [(d as OperationDefinitionNode).name!.value, print(d)]),
    );
    expect(ops.size).toBe(REALTIME_DOCUMENTS.length);
    for (const d of REALTIME_DOCUMENTS) {
      const def = parse(d.document).definitions[0] as OperationDefinitionNode;
      expect(ops.get(def.name!.value)).toBe(print(def));
    }
  });
});
