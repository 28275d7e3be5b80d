/**
 * Bundle size of the client SDK per module, minified and gzipped, as an app's bundler (esbuild, browser, ESM,
 * tree-shaken) would ship it. Baseline in the same run: the two libraries the default client is built on
 * (`graphql-request` + `graphql-ws`, bundled alone); each row's ratio is against it. Bundled with code splitting,
 * as an app's bundler does: "loaded with the page" is the entry chunk and what it imports statically; "loaded on
 * first use" the chunks behind dynamic imports (the subscription side with graphql-ws, on the first subscription).
 * `npx tsx bench/client-bundle.ts`. Goal: client core < 15 kB (kB = 1024 bytes here, as in every row).
 */
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const light = `export { createClientCore } from './src/client/core.ts'; export { fetchHttp } from './src/client/http.ts'; export { refreshingToken } from './src/client/auth.ts';`;
const entries: Array<[string, string]> = [
  ['baseline: graphql-request + graphql-ws', `import { GraphQLClient } from 'graphql-request'; import { createClient } from 'graphql-ws'; export { GraphQLClient, createClient };`],
  ['client core, graphql-request (createNselfClient)', `export { createNselfClient } from './src/client/client.ts'; export { refreshingToken } from './src/client/auth.ts';`],
  ['client core, fetch (createClientCore + fetchHttp)', light],
  ['fetch core + realtime', `${light} export { createRealtime } from './src/client/realtime.ts';`],
  ['fetch core + realtime + WebRTC calls', `${light} export { createRealtime } from './src/client/realtime.ts'; export { createCallConnection } from './src/client/webrtc.ts';`],
  ['fetch core + files', `${light} export { createFiles } from './src/client/files.ts';`],
  ['fetch core + notifications', `${light} export { createNotifications } from './src/client/notifications.ts';`],
  ['fetch core + jobs', `${light} export { createJobs } from './src/client/jobs.ts';`],
  ['fetch core + search', `${light} export { createSearch } from './src/client/search.ts';`],
  ['fetch core + oauth', `${light} export { createOAuth, oauthSession } from './src/client/oauth.ts';`],
  ['fetch core + realtime, through the index', `export { createClientCore, fetchHttp, createRealtime } from './src/client/index.ts';`],
  ['whole client (index, both transports)', `export * from './src/client/index.ts';`],
  ['react hooks + fetch core (react itself excluded)', `${light} export * from './src/react/index.ts';`],
];

interface Sizes {
  /** What a page loads with the entry: its chunk and the chunks it imports statically. */
  minified: number;
  gzip: number;
  /** Chunks loaded later through dynamic imports (graphql-ws on the first subscription). */
  lazyMinified: number;
  lazyGzip: number;
}

async function size(contents: string): Promise<Sizes> {
  const r = await build({
    entryPoints: ['entry'],
    plugins: [
      {
        name: 'entry',
        setup(b) {
          b.onResolve({ filter: /^entry$/ }, () => ({ path: 'entry', namespace: 'entry' }));
          b.onLoad({ filter: /.*/, namespace: 'entry' }, () => ({ contents, resolveDir: root, loader: 'ts' }));
        },
      },
    ],
    bundle: true,
    splitting: true,
    outdir: join(root, '.bench-bundle'),
    metafile: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    treeShaking: true,
    external: ['react', 'react-dom'],
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'error',
  });
  const files = new Map(r.outputFiles.map((f) => [f.path, f.contents]));
  const outputs = r.metafile.outputs;
  const abs = (p: string) => join(root, p);
  const entry = Object.keys(outputs).find((k) => outputs[k]!.entryPoint !== undefined)!;
  // The chunks a page loads at once: the entry and, transitively, what it imports statically.
  const eager = new Set<string>();
  const visit = (out: string) => {
    if (eager.has(out)) return;
    eager.add(out);
    for (const i of outputs[out]!.imports) if (i.kind === 'import-statement' && outputs[i.path]) visit(i.path);
  };
  visit(entry);
  const bytes = (keys: string[]) => {
    const parts = keys.map((k) => files.get(abs(k))!);
    const all = Buffer.concat(parts.map((p) => Buffer.from(p)));
    return { min: all.length, gzip: all.length ? gzipSync(all, { level: 9 }).length : 0 };
  };
  const now = bytes([...eager]);
  const later = bytes(Object.keys(outputs).filter((k) => !eager.has(k) && !k.endsWith('.map')));
  return { minified: now.min, gzip: now.gzip, lazyMinified: later.min, lazyGzip: later.gzip };
}

export async function run() {
  const rows: { module: string; minifiedBytes: number; gzipBytes: number; ratioToBaseline: number; lazyMinifiedBytes: number; lazyGzipBytes: number }[] = [];
  let baseline = 0;
  for (const [name, contents] of entries) {
    const s = await size(contents);
    if (!baseline) baseline = s.gzip;
    rows.push({ module: name, minifiedBytes: s.minified, gzipBytes: s.gzip, ratioToBaseline: Number((s.gzip / baseline).toFixed(2)), lazyMinifiedBytes: s.lazyMinified, lazyGzipBytes: s.lazyGzip });
  }
  const kb = (n: number, w: number) => (n / 1024).toFixed(1).padStart(w);
  console.log(`${'bundle'.padEnd(52)} ${'loaded with the page'.padStart(38)}  ${'× base'.padStart(6)}  ${'loaded on first use'.padStart(26)}`);
  for (const r of rows)
    console.log(`${r.module.padEnd(52)} ${kb(r.minifiedBytes, 7)} kB min ${kb(r.gzipBytes, 6)} kB gz (${String(r.gzipBytes).padStart(6)} B)  ${r.ratioToBaseline.toFixed(2).padStart(5)}×  ${kb(r.lazyMinifiedBytes, 6)} kB min ${kb(r.lazyGzipBytes, 5)} kB gz`);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
