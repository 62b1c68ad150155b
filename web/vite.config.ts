import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The gateway serves the build at /admin (src/platform/http/admin-page.ts); `npm run dev`
// proxies the API to a gateway on :4000.
export default defineConfig({
  base: '/admin/',
  plugins: [react()],
  // React, Apollo Client and graphql-js are most of the one chunk (about 150 kB gzipped).
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 800 },
  server: {
    proxy: {
      '/graphql': { target: 'http://127.0.0.1:4000', ws: true },
      '/webhook': 'http://127.0.0.1:4000',
    },
  },
});
