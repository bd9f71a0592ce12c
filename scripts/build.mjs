// `npm run build`: type-check, then bundle the app the way the Functions host loads it.
//
// Layout (dist/):
//   main.js            every functions/*.ts (package.json `main`), with our own code, @azure/functions and cookie
//                      inlined. Our lazy `require('./adapters/...')` calls stay lazy: esbuild wraps each lazily
//                      required module in an init function that runs on the first require, not at load.
//   vendor/<pkg>.js    each heavy SDK bundled on its own (@azure/data-tables, @azure/msal-node, @azure/identity,
//                      @azure/keyvault-secrets, node-forge, oauth4webapi for the API proxy, jose for ID tokens, tldts for
//                      the site check). main.js requires them by relative path from inside
//                      those lazy init functions, so /auth/login never parses Key Vault or identity code, MSAL
//                      loads once, after a login's answer is out or on the first callback (one copy of
//                      @azure/msal-node 7; @azure/identity carries its own MSAL 5 by its semver range, loaded only
//                      for managed identity / Key Vault). @azure/core-xml is a vendor file of its own, which the
//                      Table SDK loads on its first XML call only (scripts/vendor-plugins.mjs).
//   *.map              source maps (run with --enable-source-maps, as Functions does with languageWorkers:node:arguments).
//
// With `--deploy DIR` (what `npm run build` passes: `.deploy`), it also stages the deployable package, the folder
// azure.yaml names as the service's `dist`. azd zips exactly that folder and deploys it with `remoteBuild: false`:
//   DIR/host.json      copied as is
//   DIR/package.json   name, version and `main: dist/main.js` only: no dependencies, nothing to install (the bundle
//                      is self-contained; the Functions Node worker reads `main` to find the functions)
//   DIR/dist/**        the bundle above
// No node_modules and no sources: nothing in it needs a build step on the server (Learn "TypeScript build
// options": local build for bundled apps; azd's Flex Consumption deploy takes `remoteBuild: false` as given).
//
// Usage: node scripts/build.mjs [--out DIR] [--deploy DIR] [--no-typecheck] [--quiet]
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { lazyCoreXml, pslTablesAsBase64 } from './vendor-plugins.mjs';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const outDir = resolve(root, args.includes('--out') ? args[args.indexOf('--out') + 1] : 'dist');
const deployDir = args.includes('--deploy') ? resolve(root, args[args.indexOf('--deploy') + 1]) : undefined;
const quiet = args.includes('--quiet');
const log = (m) => quiet || console.log(m);

/** Heavy packages bundled into their own files and required lazily from main.js. */
export const VENDOR = [
  '@azure/data-tables',
  '@azure/msal-node',
  '@azure/identity',
  '@azure/keyvault-secrets',
  'node-forge',
  'oauth4webapi',
  'jose',
  'tldts',
];
const vendorFile = (pkg) => `${pkg.replace(/^@/, '').replace(/\//g, '-')}.js`;
/** Loaded by the Table SDK's vendor file on its first XML call only (scripts/vendor-plugins.mjs, lazyCoreXml). */
const LAZY_VENDOR = ['@azure/core-xml'];
/** What each vendor file's build changes about when its code or data is read (scripts/vendor-plugins.mjs). */
const VENDOR_PLUGINS = {
  '@azure/data-tables': [lazyCoreXml(`./${vendorFile('@azure/core-xml')}`)],
  tldts: [pslTablesAsBase64],
};
/** The worker injects it at run time; never bundled. */
const RUNTIME = ['@azure/functions-core'];

if (!args.includes('--no-typecheck')) {
  const tsc = spawnSync(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--noEmit'],
    { cwd: root, stdio: 'inherit' },
  );
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
}

rmSync(outDir, { recursive: true, force: true });
mkdirSync(join(outDir, 'vendor'), { recursive: true });

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'linked',
  logLevel: quiet ? 'error' : 'warning',
  metafile: true,
};

/** Rewrites a bare import of a vendored package to the sibling vendor file, kept as a runtime require. */
const vendorRedirect = (fromDir) => ({
  name: 'vendor-redirect',
  setup(b) {
    const filter = new RegExp(`^(${VENDOR.map((p) => p.replace(/[/.-]/g, '\\$&')).join('|')})$`);
    b.onResolve({ filter }, (a) => {
      const target = relative(fromDir, join(outDir, 'vendor', vendorFile(a.path))).replace(/\\/g, '/');
      return { path: target.startsWith('.') ? target : `./${target}`, external: true };
    });
  },
});

const functions = readdirSync(join(root, 'functions'))
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .sort();
const entry = functions.map((f) => `require('./functions/${f.replace(/\.ts$/, '')}');`).join('\n');

await Promise.all([
  build({
    ...common,
    stdin: { contents: entry, resolveDir: root, sourcefile: 'main.entry.js', loader: 'js' },
    outfile: join(outDir, 'main.js'),
    external: RUNTIME,
    plugins: [vendorRedirect(outDir)],
  }),
  ...[...VENDOR, ...LAZY_VENDOR].map((pkg) =>
    build({
      ...common,
      // `export *` lets esbuild take each package's ESM build: scope-hoisted, no per-module CommonJS wrappers,
      // which roughly halves the time to load e.g. the Table SDK. node-forge has CommonJS only.
      stdin: {
        contents:
          pkg === 'node-forge'
            ? `module.exports = require(${JSON.stringify(pkg)});`
            : `export * from ${JSON.stringify(pkg)};`,
        resolveDir: root,
        sourcefile: `${pkg}.entry.js`,
        loader: 'js',
      },
      outfile: join(outDir, 'vendor', vendorFile(pkg)),
      external: [...RUNTIME, ...LAZY_VENDOR.map((p) => `./${vendorFile(p)}`)],
      plugins: VENDOR_PLUGINS[pkg] ?? [],
    }),
  ),
]);

const files = [];
const walk = (d) =>
  readdirSync(d).forEach((f) =>
    statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : f.endsWith('.js') && files.push(join(d, f)),
  );
walk(outDir);
for (const f of files) log(`${relative(root, f).padEnd(44)} ${(statSync(f).size / 1024).toFixed(0).padStart(6)} KiB`);

if (deployDir) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  rmSync(deployDir, { recursive: true, force: true });
  mkdirSync(deployDir, { recursive: true });
  cpSync(join(root, 'host.json'), join(deployDir, 'host.json'));
  cpSync(outDir, join(deployDir, 'dist'), { recursive: true });
  const staged = {
    name: pkg.name,
    version: pkg.version,
    private: true,
    description: pkg.description,
    license: pkg.license,
    main: pkg.main,
  };
  writeFileSync(join(deployDir, 'package.json'), `${JSON.stringify(staged, null, 2)}\n`);
  const bytes = (d) =>
    readdirSync(d).reduce(
      (n, f) => n + (statSync(join(d, f)).isDirectory() ? bytes(join(d, f)) : statSync(join(d, f)).size),
      0,
    );
  log(
    `deploy package ${relative(root, deployDir) || '.'}/: ${(bytes(deployDir) / 1024).toFixed(0)} KiB (host.json, package.json, dist/)`,
  );
}
