/**
 * What `nself-plugins dev` serves: the enabled plugins' metadata composed in memory (the installer's own code
 * path, nothing written), on top of the user's Hasura project with `--project`, whose own migrations are
 * applied to the development database.
 */
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';
import type { PluginCatalog } from '../hasura/fragment.js';
import { FileSet } from '../hasura/files.js';
import { install } from '../hasura/installer.js';
import { emptyProjectFiles, readProject } from '../hasura/project.js';
import type { HasuraMetadata } from '../hasura/types.js';

export interface DevMetadataOptions {
  catalog: PluginCatalog;
  /** Enabled plugins (dependency order). */
  plugins: readonly string[];
  /** The features each plugin runs with (default: its default features), so the metadata matches the server. */
  features?: ReadonlyMap<string, readonly string[]>;
  /** A Hasura CLI v3 project whose metadata the plugins are added to (in memory). */
  projectDir?: string;
}

export function devMetadata(opts: DevMetadataOptions): HasuraMetadata {
  const projectDir = opts.projectDir ? resolve(opts.projectDir) : '/nself-plugins-dev';
  const files = opts.projectDir ? new FileSet(projectDir) : new FileSet(projectDir, emptyProjectFiles());
  if (opts.plugins.length) install({ projectDir, files, catalog: opts.catalog, plugins: opts.plugins, envDir: null, ...(opts.features ? { featuresByPlugin: opts.features } : {}) });
  return readProject(files).metadata;
}

const INSTALLED = /^-- Installed by `nself-plugins install`/;

/**
 * Applies the project's own migrations (`migrations/<source>/<version>_<name>/up.sql`, in version order) once
 * each, recorded in `nself_plugins_dev.project_migrations`. Plugin migrations copied in by `install` are skipped:
 * the handler server applies the suite's own.
 */
export async function applyProjectMigrations(databaseUrl: string, projectDir: string, source = 'default'): Promise<string[]> {
  const project = readProject(new FileSet(resolve(projectDir)));
  const dir = join(resolve(projectDir), project.migrationsDir, source);
  if (!existsSync(dir)) return [];
  const folders = readdirSync(dir)
    .filter((n) => /^\d+_/.test(n) && statSync(join(dir, n)).isDirectory())
    .sort((a, b) => (BigInt(a.split('_')[0]!) < BigInt(b.split('_')[0]!) ? -1 : 1));
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const applied: string[] = [];
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS nself_plugins_dev; CREATE TABLE IF NOT EXISTS nself_plugins_dev.project_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await client.query<{ name: string }>('SELECT name FROM nself_plugins_dev.project_migrations')).rows.map((r) => r.name));
    for (const name of folders) {
      if (done.has(name)) continue;
      const upPath = join(dir, name, 'up.sql');
      if (!existsSync(upPath)) continue;
      const sql = readFileSync(upPath, 'utf8');
      if (INSTALLED.test(sql)) continue;
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO nself_plugins_dev.project_migrations (name) VALUES ($1)', [name]);
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK');
        throw new Error(`project migration ${name} failed: ${(e as Error).message}`);
      }
      applied.push(name);
    }
  } finally {
    await client.end();
  }
  return applied;
}
