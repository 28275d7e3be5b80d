// Builds the SDK's browser test pages: `vite build --config test/client/page/vite.config.js --outDir <dir>`.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root,
  logLevel: 'warn',
  build: { emptyOutDir: true, minify: false, sourcemap: false, rollupOptions: { input: { index: join(root, 'index.html'), auth: join(root, 'auth.html') } } },
});
