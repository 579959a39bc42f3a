import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

// Built into web/dist and served by fractal-server (server/web_resource.cpp):
// hashed names under assets/ are cached as immutable, index.html is not.
export default defineConfig({
  plugins: [vue()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // Nothing inlined as data: URLs beyond what the CSP allows for images.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: 'es2020',
  },
  server: {
    // `npm run dev`: the API of a local stack (scripts/stack up) behind Vite's dev server.
    proxy: Object.fromEntries(
      ['/sign-up', '/sign-in', '/sign-out', '/add', '/tasks', '/delete', '/download', '/palettes', '/tiles', '/stats'].map(
        (p) => [p, (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.FRACTAL_URL ?? 'http://127.0.0.1:8080'],
      ),
    ),
  },
  test: {
    include: ['src/**/*.test.ts'],
  },
} as never);
