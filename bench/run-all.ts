/**
 * Every benchmark in one run (`npm run bench`), one after another so they do not compete for the machine;
 * `npm run bench -- <name> …` runs only the named ones.
 * Each result is printed and written to bench/results/<name>.json. Not a test and never a CI gate: the
 * numbers depend on the machine and on what else runs on it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');

const benches: Array<[string, () => Promise<unknown>]> = [
  ['cold-start', async () => (await import('./cold-start.js')).run()],
  ['action-roundtrip', async () => (await import('./action-roundtrip.js')).run()],
  ['event-roundtrip', async () => (await import('./event-roundtrip.js')).run()],
  ['harness-events', async () => (await import('./harness-events.js')).run()],
  ['install', async () => (await import('./install.js')).run()],
  ['jobs-throughput', async () => (await import('./jobs-throughput.js')).run()],
  ['dev-bypk', async () => (await import('./dev-bypk.js')).run()],
  ['dev-live', async () => (await import('./dev-live.js')).run()],
  ['files-upload', async () => (await import('./files-upload.js')).run()],
  ['files-variants', async () => (await import('./files-variants.js')).run()],
  ['files-clamd', async () => (await import('./files-clamd.js')).run()],
  ['files-local-1gb', async () => (await import('./files-local-1gb.js')).run()],
  ['email-smtp', async () => (await import('./email-smtp.js')).run()],
  ['notifications-send', async () => (await import('./notifications-send.js')).run()],
  ['realtime-actions', async () => (await import('./realtime-actions.js')).run()],
  ['realtime-subscriptions', async () => (await import('./realtime-subscriptions.js')).run()],
  ['client-bundle', async () => (await import('./client-bundle.js')).run()],
  ['webhooks-deliver', async () => (await import('./webhooks-deliver.js')).run()],
  ['oauth', async () => (await import('./oauth.js')).run()],
  ['stripe-webhooks', async () => (await import('./stripe-webhooks.js')).run()],
  ['search', async () => (await import('./search.js')).run()],
  ['search-sync', async () => (await import('./search-sync.js')).run()],
];

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !benches.some(([name]) => name === w));
if (unknown.length) {
  console.error(`unknown benchmark ${unknown.join(', ')}; known: ${benches.map(([name]) => name).join(', ')}`);
  process.exit(2);
}
await mkdir(dir, { recursive: true });
let failed = 0;
for (const [name, run] of benches.filter(([name]) => !wanted.length || wanted.includes(name))) {
  console.log(`\n=== ${name}`);
  try {
    const result = await run();
    await writeFile(join(dir, `${name}.json`), JSON.stringify({ at: new Date().toISOString(), result }, null, 2) + '\n');
  } catch (e) {
    failed++;
    console.error(`${name} failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
process.exitCode = failed ? 1 : 0;
