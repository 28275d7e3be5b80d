/**
 * Bundle size of the client SDK per module, minified and gzipped, as an app's bundler (esbuild, browser, ESM,
 * tree-shaken) would ship it. Baseline in the same run: the two libraries the default client is built on
 * (`graphql-request` + `graphql-ws`, bundled alone); each row's ratio is against it.
 * `npx tsx bench/client-bundle.ts`. Goal: client core < 15 kB.
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
  ['fetch core + realtime, through the index', `export { createClientCore, fetchHttp, createRealtime } from './src/client/index.ts';`],
  ['whole client (index, both transports)', `export * from './src/client/index.ts';`],
  ['react hooks + fetch core (react itself excluded)', `${light} export * from './src/react/index.ts';`],
];

async function size(contents: string): Promise<{ minified: number; gzip: number }> {
  const r = await build({
    stdin: { contents, resolveDir: root, loader: 'ts', sourcefile: 'entry.ts' },
    bundle: true,
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
  const code = r.outputFiles[0]!.contents;
  return { minified: code.length, gzip: gzipSync(code, { level: 9 }).length };
}

export async function run() {
  const rows: { module: string; minifiedBytes: number; gzipBytes: number; ratioToBaseline: number }[] = [];
  let baseline = 0;
  for (const [name, contents] of entries) {
    const s = await size(contents);
    if (!baseline) baseline = s.gzip;
    rows.push({ module: name, minifiedBytes: s.minified, gzipBytes: s.gzip, ratioToBaseline: Number((s.gzip / baseline).toFixed(2)) });
  }
  for (const r of rows) console.log(`${r.module.padEnd(50)} ${(r.minifiedBytes / 1024).toFixed(1).padStart(7)} kB min  ${(r.gzipBytes / 1024).toFixed(1).padStart(6)} kB gzip  ${r.ratioToBaseline.toFixed(2)}×`);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
