/**
 * The plugins the installer knows: the suite's own (`ALL_PLUGINS`, with their SDL and migrations in this
 * package), or another catalogue module named by `NSELF_PLUGINS_CATALOG` — how a plugin author tries an
 * unreleased plugin against a project before it joins the suite.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ALL_PLUGINS } from '../plugins/index.js';
import { actionsSdlPath, migrationsDir, packageRoot } from '../core/paths.js';
import type { PluginCatalog } from './fragment.js';

export function suiteCatalog(): PluginCatalog {
  return {
    plugins: ALL_PLUGINS.map((manifest) => {
      const readme = join(packageRoot, 'src', 'plugins', manifest.name, 'README.md');
      return { manifest, sdlPath: actionsSdlPath(manifest.name), ...(existsSync(readme) ? { readmePath: readme } : {}) };
    }),
    migrationsDir,
  };
}

/** The catalogue for a command: `NSELF_PLUGINS_CATALOG` (a module exporting `catalog`) or the suite's. */
export async function loadCatalog(env: NodeJS.ProcessEnv, cwd: string): Promise<PluginCatalog> {
  const path = env.NSELF_PLUGINS_CATALOG;
  if (!path) return suiteCatalog();
  const abs = isAbsolute(path) ? path : resolve(cwd, path);
  if (!existsSync(abs)) throw new Error(`NSELF_PLUGINS_CATALOG: ${abs} does not exist`);
  const mod = (await import(pathToFileURL(abs).href)) as { catalog?: PluginCatalog; default?: PluginCatalog };
  const catalog = mod.catalog ?? mod.default;
  if (!catalog || !Array.isArray(catalog.plugins) || typeof catalog.migrationsDir !== 'string') {
    throw new Error(`NSELF_PLUGINS_CATALOG: ${abs} must export \`catalog\` ({ plugins: [{ manifest, sdlPath }], migrationsDir })`);
  }
  return catalog;
}
