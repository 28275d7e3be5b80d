// Builds the SDK's browser test page: `vite build --config test/client/page/vite.config.js --outDir <dir>`.
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: dirname(fileURLToPath(import.meta.url)),
  logLevel: 'warn',
  build: { emptyOutDir: true, minify: false, sourcemap: false },
});
