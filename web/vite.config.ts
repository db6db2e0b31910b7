import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'
import { fileURLToPath, URL } from 'node:url'
import { readFileSync } from 'node:fs'

// The API server the dev server proxies to (override: PORTCULLIS_API=http://127.0.0.1:18080).
const api = process.env.PORTCULLIS_API || 'http://127.0.0.1:8080'

// The API docs pages the server answers at /api/docs/ (Swagger UI) and /api/redoc/ (ReDoc)
// (host/api/src/openapi.rs): their prebuilt files from the npm packages swagger-ui-dist and
// redoc (its standalone bundle), under fixed names in /api-docs/ beside init.js and
// redoc-init.js (public/api-docs/), so the pages load nothing from the internet.
function apiDocs() {
  const files = [
    ['swagger-ui-dist/swagger-ui-bundle.js', 'swagger-ui-bundle.js'],
    ['swagger-ui-dist/swagger-ui.css', 'swagger-ui.css'],
    ['redoc/bundles/redoc.standalone.js', 'redoc.standalone.js'],
  ]
  // ReDoc's menu footer shows a logo from its CDN; the page's policy would block it, but the
  // page should not even try: an empty inline image takes its place.
  const offline = (name: string, source: Buffer): Uint8Array =>
    name === 'redoc.standalone.js'
      ? Buffer.from(
          source
            .toString('utf8')
            .replaceAll('https://cdn.redoc.ly/redoc/logo-mini.svg', "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"),
        )
      : source
  return {
    name: 'portcullis-api-docs',
    apply: 'build' as const,
    generateBundle(this: { emitFile(f: { type: 'asset'; fileName: string; source: Uint8Array }): string }) {
      for (const [file, name] of files) {
        const from = fileURLToPath(new URL(`./node_modules/${file}`, import.meta.url))
        this.emitFile({ type: 'asset', fileName: `api-docs/${name}`, source: offline(name, readFileSync(from)) })
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
