/**
 * What a test's Hasura harness loads: the composed suite metadata, or — when the test enables only some
 * plugins (`PLUGINS_ENABLED`) — just those plugins' metadata, as `install` would write it (the composed suite
 * metadata names tables whose migrations did not run).
 */
import { join } from 'node:path';
import { hasuraDir } from '../../src/core/paths.js';
import { devMetadata } from '../../src/dev/project.js';
import { suiteCatalog } from '../../src/hasura/catalog.js';
import { metadataFromJson } from '../../src/testing/metadata.js';
import type { HasuraMetadata } from '../../src/testing/index.js';

export function harnessMetadataFor(env: { PLUGINS_ENABLED?: string }): { metadata: HasuraMetadata } | { metadataDir: string } {
  const enabled = env.PLUGINS_ENABLED?.split(',').map((p) => p.trim());
  return enabled ? { metadata: metadataFromJson(devMetadata({ catalog: suiteCatalog(), plugins: enabled })) } : { metadataDir: join(hasuraDir, 'metadata') };
}
