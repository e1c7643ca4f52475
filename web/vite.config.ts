import { defineConfig } from "vitest/config";

declare const process: { env: Record<string, string | undefined> };

// The gateway (`lfg serve`) listens on 127.0.0.1:8000 and serves the built UI at `/`,
// on the same origin as /api/v1 and /ws/v1. In dev, Vite proxies both to it.
const gateway = process.env.LFG_GATEWAY ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    host: "127.0.0.1",
    proxy: {
      "/api": { target: gateway, changeOrigin: true },
      "/ws": { target: gateway.replace(/^http/, "ws"), ws: true, changeOrigin: true },
    },
  },
  test: {
    environment: "node",
    include: ["test/**/*.test.ts"],
  },
});
