/**
 * The files plugin's features through the foundation: `info` lists them with what each switches, `install
 * --features` records FILES_FEATURES and composes the metadata, a feature that is off registers no jobs and
 * needs none of its settings, and the loader refuses unknown features.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../../core/config.js';
import { withFeatures } from '../../../core/features.js';
import { cli, copyFixture, type TempProject } from '../../../../test/hasura/helpers.js';
import { ALL_PLUGINS } from '../../index.js';
import { filesPlugin } from '../plugin.js';

const temps: TempProject[] = [];
afterAll(() => {
  for (const t of temps) t.cleanup();
});

const env = {} as NodeJS.ProcessEnv;

describe('info files', () => {
  it('shows every feature, what it switches, and the defaults', async () => {
    const info = await cli(['info', 'files'], { env });
    expect(info.code).toBe(0);
    expect(info.out).toContain('features (FILES_FEATURES; on: thumbnails, default):');
    expect(info.out).toMatch(/thumbnails \[on; default on\] — .*\(job files\.image\)/);
    expect(info.out).toMatch(/video \[off\] — .*\(job files\.video, setting FILES_FFMPEG_PATH, setting FILES_FFPROBE_PATH\)/);
    expect(info.out).toMatch(/documents \[off\] — .*\(job files\.document, setting FILES_PDFTOPPM_PATH, setting FILES_PDFINFO_PATH\)/);
    expect(info.out).toMatch(/virus-scan \[off\] — .*\(job files\.scan, service clamd, setting FILES_CLAMD_SOCKET/);
  });
});

describe('install files --features thumbnails,virus-scan', () => {
  it('records the features in the project and its .env', async () => {
    const t = copyFixture('empty');
    temps.push(t);
    const r = await cli(['install', 'jobs', 'files', '--features', 'thumbnails,virus-scan', '--project', t.dir], { env });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const dotenv = readFileSync(join(t.root, '.env'), 'utf8');
    expect(dotenv).toMatch(/^FILES_FEATURES=thumbnails,virus-scan$/m);
    const actions = readFileSync(join(t.dir, 'metadata', 'actions.yaml'), 'utf8');
    expect(actions).toContain('name: filesCreateUpload');
    expect(actions).toMatch(/- name: FilesFile\n\s+relationships:\n\s+- name: file/);
    const info = await cli(['info', 'files', '--project', t.dir], { env });
    expect(info.out).toMatch(/virus-scan \[on\]/);
  });

  it('refuses an unknown feature', async () => {
    const t = copyFixture('empty');
    temps.push(t);
    const r = await cli(['install', 'jobs', 'files', '--features', 'thumbnails,warp', '--project', t.dir], { env });
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('unknown feature warp; available: files:thumbnails, files:video, files:documents, files:virus-scan');
  });
});

describe('features at run time', () => {
  it('a feature that is off registers no jobs and no service', () => {
    const off = withFeatures(filesPlugin, ['thumbnails']);
    expect(off.jobs!.map((j) => j.name).sort()).toEqual(['files.digest', 'files.image']);
    expect(off.services!.map((s) => s.name)).toEqual(['storage']);
    const on = withFeatures(filesPlugin, ['documents', 'thumbnails', 'video', 'virus-scan']);
    expect(on.jobs!.map((j) => j.name).sort()).toEqual(['files.digest', 'files.document', 'files.image', 'files.scan', 'files.video']);
    expect(on.services!.map((s) => s.name)).toEqual(['storage', 'clamd']);
  });

  it('settings of a feature that is off are neither required nor checked', () => {
    const base = { DATABASE_URL: 'postgres://x@127.0.0.1/x', PLUGINS_ENABLED: 'jobs,files' };
    const loaded = loadConfig({ ...base, FILES_FEATURES: 'thumbnails', FILES_CLAMD_PORT: 'not-a-port' }, ALL_PLUGINS);
    expect(loaded.features.get('files')).toEqual(['thumbnails']);
    expect(loaded.pluginConfig.get('files')).not.toHaveProperty('FILES_CLAMD_PORT');
    expect(() => loadConfig({ ...base, FILES_FEATURES: 'thumbnails,virus-scan', FILES_CLAMD_PORT: 'not-a-port' }, ALL_PLUGINS)).toThrow(/FILES_CLAMD_PORT/);
    expect(() => loadConfig({ ...base, FILES_FEATURES: 'warp' }, ALL_PLUGINS)).toThrow(/unknown feature "warp" of plugin files/);
  });
});
