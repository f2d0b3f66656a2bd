/**
 * Builds the dashboard into `dist/web` (run as `vite build web` from the package root). For
 * development, `vite web` serves it with the API proxied to a running `neutrino up`
 * (NEUTRINO_URL, default http://127.0.0.1:9696).
 */
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const api = process.env.NEUTRINO_URL ?? 'http://127.0.0.1:9696';

export default defineConfig({
  base: '/',
  plugins: [react()],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    // The layout engine (elkjs) is one large chunk of its own, loaded in parallel with the data.
    chunkSizeWarningLimit: 2000,
  },
  server: {
    proxy: Object.fromEntries(['/v2.0', '/identity', '/neutrino'].map((p) => [p, api])),
  },
});
