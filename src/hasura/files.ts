/**
 * A set of files under one root with staged changes, committed all at once: every new content goes to a
 * temporary file first and is renamed into place only when all of them are written, and a failure part-way
 * puts back what was there. A command therefore either changes the project as a whole or not at all.
 *
 * The project is the user's, possibly a repository cloned from someone else, so reading it is bounded:
 * - every file read is capped ({@link MAX_PROJECT_FILE_BYTES}), and only regular files are read (a FIFO or
 *   a device named `actions.graphql` would block or never end);
 * - a symbolic link is followed only while it stays inside the project (for a file outside the project's
 *   folder, such as `../.env`, inside that file's own folder): a link to `/etc/shadow` or to another user's
 *   files is refused, never read, and never written through.
 * Rewriting a file keeps its mode (and, as root, its owner); a new file gets the mode its writer asks for
 * (`.env` holds a secret: 0600), else the umask's default.
 */
import {
  closeSync,
  constants as fsConstants,
  existsSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  realpathSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, posix, relative, sep } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Far above any real Hasura project file (a large actions.graphql is a few hundred KiB). */
export const MAX_PROJECT_FILE_BYTES = 16 * 1024 * 1024;

/** A project file that cannot be used as it is; the message names the file. */
export class ProjectFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'ProjectFileError';
  }
}

export interface FileSetOptions {
  /** Largest file read, in bytes; default {@link MAX_PROJECT_FILE_BYTES}. */
  maxFileBytes?: number;
}

export interface WriteOptions {
  /** Mode of the file when it is created (an existing file keeps its own), e.g. 0o600 for secrets. */
  mode?: number;
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${+(n / 1024 / 1024).toFixed(1)} MiB` : n >= 1024 ? `${+(n / 1024).toFixed(1)} KiB` : `${n} bytes`;
}

function within(path: string, dir: string): boolean {
  const r = relative(dir, path);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

const READ_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0) | (fsConstants.O_NONBLOCK ?? 0);

export class FileSet {
  private readonly writes = new Map<string, string>();
  private readonly deletes = new Set<string>();
  private readonly modes = new Map<string, number>();
  /** Disk contents read so far (undefined: missing); one command sees one state of each file. */
  private readonly disk = new Map<string, string | undefined>();
  private readonly maxFileBytes: number;
  private realRoot?: string;

  /**
   * @param root directory the relative paths are resolved against.
   * @param base when given, the starting contents (nothing is read from disk): an in-memory project.
   */
  constructor(
    readonly root: string,
    private readonly base?: ReadonlyMap<string, string>,
    opts: FileSetOptions = {},
  ) {
    this.maxFileBytes = opts.maxFileBytes ?? MAX_PROJECT_FILE_BYTES;
  }

  private abs(rel: string): string {
    return join(this.root, rel);
  }

  /**
   * The path to use on disk for `rel`: symbolic links resolved, and refused when they lead out of the
   * project (for a path outside the root, out of its own folder). The part of the path that does not exist
   * yet is appended as it is.
   */
  private real(rel: string): string {
    const lexical = this.abs(rel);
    const inside = within(lexical, this.root);
    let boundary: string;
    try {
      boundary = inside ? (this.realRoot ??= realpathSync(this.root)) : realpathSync(dirname(lexical));
    } catch {
      return lexical; // its folder does not exist: nothing to follow
    }
    let existing = lexical;
    const rest: string[] = [];
    while (!existsSync(existing)) {
      const up = dirname(existing);
      // A dangling link is not followed: the rename that writes it replaces the link itself.
      if (isSymlink(existing) || up === existing) return lexical;
      rest.unshift(basename(existing));
      existing = up;
    }
    const resolved = join(realpathSync(existing), ...rest);
    if (!within(resolved, boundary)) {
      throw new ProjectFileError(rel, `leads through a symbolic link to ${resolved}, outside ${inside ? 'the project' : dirname(lexical)}; refusing to follow it`);
    }
    return resolved;
  }

  /** Contents on disk (bounded, regular files only), or undefined when missing or a folder. */
  private readDisk(rel: string): string | undefined {
    if (this.disk.has(rel)) return this.disk.get(rel);
    const p = this.real(rel);
    let fd: number;
    try {
      fd = openSync(p, READ_FLAGS);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // A link that points nowhere counts as missing (writing it replaces the link, following nothing).
      if (code === 'ENOENT' || code === 'ENOTDIR' || (code === 'ELOOP' && !existsSync(p))) {
        this.disk.set(rel, undefined);
        return undefined;
      }
      if (code === 'ELOOP') throw new ProjectFileError(rel, 'became a symbolic link while being read; refusing to follow it');
      throw e;
    }
    try {
      const st = fstatSync(fd);
      if (st.isDirectory()) {
        this.disk.set(rel, undefined);
        return undefined;
      }
      if (!st.isFile()) throw new ProjectFileError(rel, 'is not a regular file (a pipe, socket or device); refusing to read it');
      const tooLarge = (size: number) =>
        new ProjectFileError(rel, `is ${formatBytes(size)}, more than the ${formatBytes(this.maxFileBytes)} a project file may have; refusing to read it`);
      if (st.size > this.maxFileBytes) throw tooLarge(st.size);
      // Read at most one byte over the limit, whatever the size said: the file may be growing.
      const buf = Buffer.alloc(Math.min(st.size, this.maxFileBytes) + 1);
      let n = 0;
      for (let r; (r = readSync(fd, buf, n, buf.length - n, null)) > 0; ) {
        n += r;
        if (n === buf.length) {
          if (n > this.maxFileBytes) throw tooLarge(n);
          break;
        }
      }
      const text = buf.subarray(0, n).toString('utf8');
      this.disk.set(rel, text);
      return text;
    } finally {
      closeSync(fd);
    }
  }

  private baseHas(rel: string): boolean {
    return this.readBase(rel) !== undefined;
  }

  private readBase(rel: string): string | undefined {
    return this.base ? this.base.get(rel) : this.readDisk(rel);
  }

  read(rel: string): string | undefined {
    rel = posix.normalize(rel);
    if (this.writes.has(rel)) return this.writes.get(rel);
    if (this.deletes.has(rel)) return undefined;
    return this.readBase(rel);
  }

  exists(rel: string): boolean {
    return this.read(rel) !== undefined;
  }

  /** Permission bits of the file on disk (undefined when missing or in memory). */
  mode(rel: string): number | undefined {
    if (this.base) return undefined;
    try {
      const st = statSync(this.real(posix.normalize(rel)));
      return st.isFile() ? st.mode & 0o777 : undefined;
    } catch {
      return undefined;
    }
  }

  write(rel: string, text: string, opts: WriteOptions = {}): void {
    rel = posix.normalize(rel);
    this.deletes.delete(rel);
    if (opts.mode !== undefined) this.modes.set(rel, opts.mode);
    if (this.baseHas(rel) && this.readBase(rel) === text) this.writes.delete(rel);
    else this.writes.set(rel, text);
  }

  remove(rel: string): void {
    rel = posix.normalize(rel);
    this.writes.delete(rel);
    if (this.baseHas(rel)) this.deletes.add(rel);
  }

  /** A folder's entries on disk ([] when missing or not a folder). */
  private readDir(rel: string): string[] {
    const p = this.real(rel);
    try {
      return statSync(p).isDirectory() ? readdirSync(p) : [];
    } catch {
      return [];
    }
  }

  private isDiskDir(rel: string): boolean {
    try {
      return statSync(this.real(rel)).isDirectory();
    } catch {
      return false;
    }
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
    else for (const n of this.readDir(rel)) names.add(n);
    fromPaths(this.writes.keys());
    // A folder whose every file is being deleted disappears.
    return [...names]
      .filter((n) => {
        const full = prefix + n;
        if (this.deletes.has(full)) return false;
        if (this.base || !this.isDiskDir(full)) return true;
        return this.allFiles(full).length > 0;
      })
      .sort();
  }

  /** Every file under `rel` (recursive), staged changes included. Linked folders are not descended into. */
  allFiles(rel = ''): string[] {
    const prefix = rel === '' ? '' : posix.normalize(rel).replace(/\/$/, '') + '/';
    const out = new Set<string>();
    if (this.base) for (const k of this.base.keys()) if (k.startsWith(prefix)) out.add(k);
    if (!this.base) {
      const walk = (abs: string, r: string) => {
        let st;
        try {
          st = lstatSync(abs);
        } catch {
          return;
        }
        if (st.isDirectory()) for (const n of readdirSync(abs)) walk(join(abs, n), r === '' ? n : `${r}/${n}`);
        else out.add(r);
      };
      const start = prefix.replace(/\/$/, '');
      walk(this.real(start), start);
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

  /** Where a deletion happens: the folder resolved, the last part not (deleting a link deletes the link). */
  private deleteTarget(rel: string): string {
    const dir = posix.dirname(rel);
    return join(this.real(dir === '.' ? '' : dir), posix.basename(rel));
  }

  /** The new content in a temporary file beside `target`, with the mode (and owner) the file is to have. */
  private writeTemp(rel: string, target: string, temp: string, text: string): void {
    let existing: { mode: number; uid: number; gid: number } | undefined;
    try {
      const st = statSync(target);
      if (st.isFile()) existing = { mode: st.mode & 0o777, uid: st.uid, gid: st.gid };
    } catch {
      /* a new file */
    }
    const wanted = existing?.mode ?? this.modes.get(rel);
    // Created with its final mode (never wider), so a secret is not readable by others even for a moment.
    const fd = openSync(temp, 'wx', wanted ?? 0o666);
    try {
      const data = Buffer.from(text, 'utf8');
      for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
      if (wanted !== undefined) fchmodSync(fd, wanted);
      if (existing && process.getuid?.() === 0 && (existing.uid !== 0 || existing.gid !== 0)) fchownSync(fd, existing.uid, existing.gid);
    } finally {
      closeSync(fd);
    }
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
    // Every path is resolved (and refused if it leads out of the project) before anything is touched.
    const writeTargets = [...this.writes.keys()].map((rel) => ({ rel, target: this.real(rel) }));
    const deleteTargets = [...this.deletes].map((rel) => ({ rel, target: this.deleteTarget(rel) }));
    for (const { target } of [...writeTargets, ...deleteTargets]) {
      if (existsSync(target) && !statSync(target).isFile()) throw new Error(`${target} is a folder, where a file must be written; move it away`);
    }
    try {
      for (const { rel, target } of writeTargets) {
        mkdirs(dirname(target));
        const temp = `${target}${tag}.tmp`;
        temps.push({ target, temp });
        this.writeTemp(rel, target, temp, this.writes.get(rel)!);
      }
      for (const { target, temp } of temps) {
        const backup = existsSync(target) ? `${target}${tag}.bak` : null;
        if (backup) this.rename(target, backup);
        done.push({ target, backup, placed: false });
        this.rename(temp, target);
        done[done.length - 1]!.placed = true;
      }
      for (const { target } of deleteTargets) {
        if (!existsSync(target) && !isSymlink(target)) continue;
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
    const root = this.realRoot ?? this.root;
    const kept = new Set(keep.map((k) => this.deleteTarget(k)));
    const dirs = [...new Set(deleteTargets.map(({ target }) => dirname(target)))].sort((a, b) => b.length - a.length);
    for (const d of dirs) {
      for (let cur = d; cur.startsWith(root + sep) && !kept.has(cur); cur = dirname(cur)) {
        if (!existsSync(cur) || readdirSync(cur).length > 0) break;
        rmdirSync(cur);
      }
    }
    this.writes.clear();
    this.deletes.clear();
    this.modes.clear();
    this.disk.clear();
  }
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
