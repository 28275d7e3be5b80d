import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (the folder holding package.json), from src/ under tsx or dist/src/ when built. */
function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

export const packageRoot = findPackageRoot();
/** `actions/<plugin>/actions.graphql` */
export const actionsDir = join(packageRoot, 'actions');
export const hasuraDir = join(packageRoot, 'hasura');
export const migrationsDir = join(packageRoot, 'hasura', 'migrations', 'default');

export function actionsSdlPath(plugin: string): string {
  return join(actionsDir, plugin, 'actions.graphql');
}
