// The UI is embedded in the hodos binary (see docs/ui.md): one index.html plus content-hashed
// assets, no source maps (they would double the binary's share), no inlined data URLs.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    sourcemap: false,
    // cytoscape (the service map, ~450 KB) is its own chunk, loaded only by /map.
    chunkSizeWarningLimit: 500,
  },
  // `npm run dev` against a running `hodos up`.
  server: { proxy: { '/api': 'http://127.0.0.1:16686' } },
  test: { include: ['src/**/*.test.ts'], environment: 'node' },
});
