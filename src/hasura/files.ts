/**
 * A set of files under one root with staged changes, committed all at once: every new content goes to a
 * temporary file first and is renamed into place only when all of them are written, and a failure part-way
 * puts back what was there. A command therefore either changes the project as a whole or not at all.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { randomBytes } from 'node:crypto';

export class FileSet {
  private readonly writes = new Map<string, string>();
  private readonly deletes = new Set<string>();

  /**
   * @param root directory the relative paths are resolved against.
   * @param base when given, the starting contents (nothing is read from disk): an in-memory project.
   */
  constructor(
    readonly root: string,
    private readonly base?: ReadonlyMap<string, string>,
  ) {}

  private abs(rel: string): string {
    return join(this.root, rel);
  }

  private baseHas(rel: string): boolean {
    if (this.base) return this.base.has(rel);
    const p = this.abs(rel);
    return existsSync(p) && statSync(p).isFile();
  }

  read(rel: string): string | undefined {
    rel = posix.normalize(rel);
    if (this.writes.has(rel)) return this.writes.get(rel);
    if (this.deletes.has(rel)) return undefined;
    if (this.base) return this.base.get(rel);
    const p = this.abs(rel);
    if (!existsSync(p) || !statSync(p).isFile()) return undefined;
    return readFileSync(p, 'utf8');
  }

  exists(rel: string): boolean {
    return this.read(rel) !== undefined;
  }

  write(rel: string, text: string): void {
    rel = posix.normalize(rel);
    this.deletes.delete(rel);
    if (this.baseHas(rel) && this.readBase(rel) === text) this.writes.delete(rel);
    else this.writes.set(rel, text);
  }

  remove(rel: string): void {
    rel = posix.normalize(rel);
    this.writes.delete(rel);
    if (this.baseHas(rel)) this.deletes.add(rel);
  }

  private readBase(rel: string): string | undefined {
    if (this.base) return this.base.get(rel);
    return readFileSync(this.abs(rel), 'utf8');
  }

  /** Entries (files and folders) directly under `rel`, staged changes included. */
  list(rel: string): string[] {
    rel = rel === '' ? '' : posix.normalize(rel).replace(/\/$/, '');
    const prefix = rel === '' ? '' : rel + '/';
    const names = new Set<string>();
    const fromPaths = (paths: Iterable<string>) => {
      for (const p of paths) if (p.startsWith(prefix)) names.add(p.slice(prefix.length).split('/')[0]!);
    };
    if (this.base) fromPaths(this.base.keys());
    else if (existsSync(this.abs(rel)) && statSync(this.abs(rel)).isDirectory()) for (const n of readdirSync(this.abs(rel))) names.add(n);
    fromPaths(this.writes.keys());
    // A folder whose every file is being deleted disappears.
    return [...names]
      .filter((n) => {
        const full = prefix + n;
        if (this.deletes.has(full)) return false;
        if (this.base || !existsSync(this.abs(full)) || !statSync(this.abs(full)).isDirectory()) return true;
        return this.allFiles(full).length > 0;
      })
      .sort();
  }

  /** Every file under `rel` (recursive), staged changes included. */
  allFiles(rel = ''): string[] {
    const prefix = rel === '' ? '' : posix.normalize(rel).replace(/\/$/, '') + '/';
    const out = new Set<string>();
    if (this.base) for (const k of this.base.keys()) if (k.startsWith(prefix)) out.add(k);
    if (!this.base) {
      const walk = (r: string) => {
        const p = this.abs(r);
        if (!existsSync(p)) return;
        if (statSync(p).isDirectory()) for (const n of readdirSync(p)) walk(r === '' ? n : `${r}/${n}`);
        else out.add(r);
      };
      walk(prefix.replace(/\/$/, ''));
    }
    for (const k of this.writes.keys()) if (k.startsWith(prefix)) out.add(k);
    for (const k of this.deletes) out.delete(k);
    return [...out].sort();
  }

  hasChanges(): boolean {
    return this.writes.size > 0 || this.deletes.size > 0;
  }

  /** Staged changes: path → new text, or null for a deletion. */
  changes(): Map<string, string | null> {
    const out = new Map<string, string | null>();
    for (const [k, v] of this.writes) out.set(k, v);
    for (const k of this.deletes) out.set(k, null);
    return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  /** One step of `commit`; a seam for fault-injection tests. */
  protected rename(from: string, to: string): void {
    renameSync(from, to);
  }

  /** The full contents after the staged changes (in-memory sets only). */
  snapshot(): Map<string, string> {
    const out = new Map<string, string>();
    for (const f of this.allFiles('')) out.set(f, this.read(f)!);
    return out;
  }

  /**
   * Writes every staged change, all or nothing. Folders emptied by deletions are removed too, up to (not
   * including) the root and the folders in `keep`.
   */
  commit(keep: readonly string[] = []): void {
    if (this.base) throw new Error('an in-memory file set cannot be committed');
    const tag = `.nself-plugins-${process.pid}-${randomBytes(4).toString('hex')}`;
    const createdDirs: string[] = [];
    const temps: Array<{ target: string; temp: string }> = [];
    const done: Array<{ target: string; backup: string | null; placed: boolean }> = [];
    const mkdirs = (dir: string) => {
      const missing: string[] = [];
      for (let d = dir; !existsSync(d); d = dirname(d)) missing.unshift(d);
      for (const d of missing) {
        mkdirSync(d);
        createdDirs.push(d);
      }
    };
    // Refuse before touching anything when a file would replace a folder.
    for (const rel of [...this.writes.keys(), ...this.deletes]) {
      const target = this.abs(rel);
      if (existsSync(target) && !statSync(target).isFile()) throw new Error(`${target} is a folder, where a file must be written; move it away`);
    }
    try {
      for (const [rel, text] of this.writes) {
        const target = this.abs(rel);
        mkdirs(dirname(target));
        const temp = `${target}${tag}.tmp`;
        writeFileSync(temp, text);
        temps.push({ target, temp });
      }
      for (const { target, temp } of temps) {
        const backup = existsSync(target) ? `${target}${tag}.bak` : null;
        if (backup) this.rename(target, backup);
        done.push({ target, backup, placed: false });
        this.rename(temp, target);
        done[done.length - 1]!.placed = true;
      }
      for (const rel of this.deletes) {
        const target = this.abs(rel);
        if (!existsSync(target)) continue;
        const backup = `${target}${tag}.bak`;
        this.rename(target, backup);
        done.push({ target, backup, placed: false });
      }
    } catch (e) {
      for (const { target, backup, placed } of done.reverse()) {
        if (placed) rmSync(target, { force: true });
        if (backup) renameSync(backup, target);
      }
      for (const { temp } of temps) rmSync(temp, { force: true });
      for (const d of createdDirs.reverse()) rmSync(d, { recursive: true, force: true });
      throw e;
    }
    for (const { backup } of done) if (backup) rmSync(backup, { force: true });
    const kept = new Set(keep.map((k) => this.abs(k)));
    const dirs = [...new Set([...this.deletes].map((r) => dirname(this.abs(r))))].sort((a, b) => b.length - a.length);
    for (const d of dirs) {
      for (let cur = d; cur.startsWith(this.root) && cur !== this.root && !kept.has(cur); cur = dirname(cur)) {
        if (!existsSync(cur) || readdirSync(cur).length > 0) break;
        rmdirSync(cur);
      }
    }
    this.writes.clear();
    this.deletes.clear();
  }
}
