import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'
import { fileURLToPath, URL } from 'node:url'
import { readFileSync } from 'node:fs'

// The API server the dev server proxies to (override: PORTCULLIS_API=http://127.0.0.1:18080).
const api = process.env.PORTCULLIS_API || 'http://127.0.0.1:8080'

// Swagger UI for the API docs page the server answers at /api/docs/ (host/api/src/openapi.rs):
// its prebuilt files from the npm package, under fixed names in /api-docs/ beside init.js
// (public/api-docs/), so the page loads nothing from the internet.
function apiDocs() {
  const files = ['swagger-ui-bundle.js', 'swagger-ui.css']
  return {
    name: 'portcullis-api-docs',
    apply: 'build' as const,
    generateBundle(this: { emitFile(f: { type: 'asset'; fileName: string; source: Uint8Array }): string }) {
      for (const file of files) {
        const from = fileURLToPath(new URL(`./node_modules/swagger-ui-dist/${file}`, import.meta.url))
        this.emitFile({ type: 'asset', fileName: `api-docs/${file}`, source: readFileSync(from) })
      }
    },
  }
}

// The SPA is served by the Rust binary at `/` (client-side routes live under /ui/),
// with hashed files under /assets/ cached for long.
export default defineConfig({
  base: '/',
  plugins: [
    vue(),
    apiDocs(),
    // Element Plus components (and their CSS) are imported where templates use them, so the
    // bundle carries only what the pages need. Types come from element-plus/global.
    Components({ resolvers: [ElementPlusResolver({ importStyle: 'css' })], dts: false }),
  ],
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
  },
  build: {
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      output: {
        // Keep the big, rarely changing libraries in their own cacheable chunks.
        manualChunks(id: string) {
          if (id.includes('node_modules/element-plus') || id.includes('node_modules/@element-plus')) return 'element-plus'
          if (id.includes('node_modules/vue') || id.includes('node_modules/@vue') || id.includes('node_modules/pinia') || id.includes('node_modules/@intlify')) return 'vue'
          return undefined
        },
      },
    },
  },
  // Pre-bundle every Element Plus component and style once, so the dev server does not
  // re-optimize (and reload the page) each time a page uses a component for the first time.
  optimizeDeps: {
    include: ['element-plus/es', 'element-plus/es/components/*/style/css', '@element-plus/icons-vue'],
  },
  server: {
    port: 5173,
    proxy: {
      '/api': { target: api, changeOrigin: false, ws: true },
      '/koko': { target: api, changeOrigin: false, ws: true },
    },
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.ts'],
  },
} as never)
