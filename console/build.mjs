// Builds the console into dist/: one script and one stylesheet, named by their content
// hashes, and index.html naming them (so the gateway may cache assets forever and never
// index.html). `--tests` instead bundles src/**/*.test.ts for `node --test`.
import * as esbuild from "esbuild";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, basename } from "node:path";

const here = new URL(".", import.meta.url).pathname;

if (process.argv.includes("--tests")) {
  const out = join(here, ".test-build");
  rmSync(out, { recursive: true, force: true });
  const tests = readdirSync(join(here, "src"))
    .filter((name) => name.endsWith(".test.ts"))
    .map((name) => join(here, "src", name));
  await esbuild.build({
    entryPoints: tests,
    outdir: out,
    bundle: true,
    platform: "node",
    format: "esm",
    outExtension: { ".js": ".mjs" },
    logLevel: "warning",
  });
  process.exit(0);
}

const dist = join(here, "dist");
for (const name of readdirSync(dist, { withFileTypes: true })) {
  if (name.name !== ".gitkeep") rmSync(join(dist, name.name), { recursive: true, force: true });
}
const result = await esbuild.build({
  entryPoints: { app: join(here, "src/main.tsx") },
  outdir: join(dist, "assets"),
  entryNames: "[name]-[hash]",
  bundle: true,
  minify: true,
  sourcemap: false,
  format: "esm",
  target: ["es2022"],
  jsx: "automatic",
  jsxImportSource: "preact",
  metafile: true,
  logLevel: "warning",
});
const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path));
const script = outputs.find((name) => name.endsWith(".js"));
const style = outputs.find((name) => name.endsWith(".css"));
if (!script || !style) throw new Error(`esbuild wrote ${outputs.join(", ")}: no script or stylesheet`);
mkdirSync(dist, { recursive: true });
writeFileSync(
  join(dist, "index.html"),
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="cynode-stream-url" content="">
<title>CyNode</title>
<link rel="stylesheet" href="/assets/${style}">
<script type="module" src="/assets/${script}"></script>
</head>
<body>
<noscript>The CyNode console needs JavaScript; cynork does everything it does.</noscript>
<div id="app"></div>
</body>
</html>
`,
);
console.log(`console: dist/index.html, assets/${script}, assets/${style}`);
