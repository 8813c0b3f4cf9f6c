#!/usr/bin/env node
// `npm run release`: the installable tree as one tarball, dist/release/flynn-edge-<version>.tar.gz,
// with packaging/install.sh copied beside it. The tree is what `npm run build` made (every
// apps/* and packages/* workspace's package.json, bin/ and dist/) plus production dependencies
// only, installed by `npm ci --omit=dev` from the lock in a staging folder, so the result runs
// with nothing but `node` (≥ 20) on PATH. Flags: --out DIR (default dist/release), --no-build
// (trust the dist/ folders as they are; the tests use it after a build), --print-version (print
// <root package.json version>-<short commit>, the tarball's version, and exit).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Workspaces that are test or benchmark code: never shipped. */
const NOT_SHIPPED = new Set(['packages/testkit']);
const WORKSPACE_GLOBS = ['apps', 'packages'];

class ReleaseError extends Error {}

function fail(msg) {
  throw new ReleaseError(msg);
}

function args(argv) {
  const o = { out: join(ROOT, 'dist/release'), build: true };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') o.out = argv[++i];
    else if (argv[i] === '--no-build') o.build = false;
    else if (argv[i] === '--print-version') o.printVersion = true;
    else fail(`unknown argument ${argv[i]}`);
  }
  return o;
}

function version() {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const sha = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  const short = sha.status === 0 ? sha.stdout.trim() : 'nogit';
  return `${pkg.version ?? '0.0.0'}-${short}`;
}

function workspaces() {
  const found = [];
  for (const top of WORKSPACE_GLOBS) {
    for (const name of readdirSync(join(ROOT, top)).sort()) {
      const ws = `${top}/${name}`;
      if (!NOT_SHIPPED.has(ws) && existsSync(join(ROOT, ws, 'package.json'))) found.push(ws);
    }
  }
  return found;
}

/** The root package.json and lock, cut down to the shipped workspaces and no dev tools. */
function stageManifests(stage, shipped) {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const keep = { name: pkg.name, version: pkg.version, private: true, type: pkg.type };
  const manifest = { ...keep, engines: pkg.engines, workspaces: shipped };
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

  // Registry packages come from the lock; the workspaces' own entries mirror their staged
  // package.json (no dev dependencies), so only an outdated registry dependency can fail `npm ci`.
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
  const rootEntry = { ...lock.packages[''], workspaces: shipped };
  delete rootEntry.devDependencies;
  const packages = { '': rootEntry };
  for (const ws of shipped) {
    const m = JSON.parse(readFileSync(join(stage, ws, 'package.json'), 'utf8'));
    const entry = { name: m.name, version: m.version };
    for (const field of [
      'dependencies',
      'optionalDependencies',
      'peerDependencies',
      'bin',
      'engines',
      'license',
    ]) {
      if (m[field] !== undefined) entry[field] = m[field];
    }
    packages[ws] = entry;
    packages[`node_modules/${m.name}`] = { resolved: ws, link: true };
  }
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (key === '' || entry.link || entry.dev || !key.includes('node_modules/')) continue;
    // A workspace's own node_modules (a version not hoisted) only when that workspace ships.
    const owner = key.slice(0, key.indexOf('node_modules/')).replace(/\/$/, '');
    if (owner && !shipped.includes(owner)) continue;
    packages[key] = entry;
  }
  writeFileSync(join(stage, 'package-lock.json'), `${JSON.stringify({ ...lock, packages }, null, 2)}\n`);
}

function stageWorkspace(stage, ws) {
  const from = join(ROOT, ws);
  const to = join(stage, ws);
  mkdirSync(to, { recursive: true });
  // Dev dependencies (the test kit, vitest) are neither shipped nor resolved.
  const { devDependencies: _dev, ...manifest } = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8'));
  writeFileSync(join(to, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  for (const dir of ['bin', 'dist']) {
    if (!existsSync(join(from, dir))) continue;
    cpSync(join(from, dir), join(to, dir), {
      recursive: true,
      filter: (src) => !src.endsWith('.tsbuildinfo'),
    });
  }
  if (ws.startsWith('apps/') && !existsSync(join(from, 'dist'))) fail(`${ws} is not built (npm run build)`);
}

function* files(dir, base = dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p, base);
    else if (e.isFile()) yield relative(base, p);
  }
}

function sha256sums(tree) {
  const lines = [];
  for (const f of [...files(tree)].sort()) {
    if (f === 'SHA256SUMS') continue;
    const h = createHash('sha256')
      .update(readFileSync(join(tree, f)))
      .digest('hex');
    lines.push(`${h}  ./${f}`);
  }
  writeFileSync(join(tree, 'SHA256SUMS'), `${lines.join('\n')}\n`);
}

/** The default bootstrap manifest, as `flynn-host bootstrap` would use it, once cluster-ops ships one. */
async function writeBootstrapManifest(stage) {
  const entry = join(stage, 'packages/cluster-ops/dist/index.js');
  if (!existsSync(entry)) return;
  const ops = await import(pathToFileURL(entry).href);
  if (typeof ops.defaultManifest !== 'function') return;
  writeFileSync(
    join(stage, 'bootstrap-manifest.json'),
    `${JSON.stringify(ops.defaultManifest(), null, 2)}\n`,
  );
}

function run(cmd, argv, cwd) {
  const r = spawnSync(cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (r.status !== 0) fail(`${cmd} ${argv.join(' ')} exited ${r.status}`);
}

async function main() {
  const opts = args(process.argv.slice(2));
  if (opts.printVersion) {
    process.stdout.write(`${version()}\n`);
    return;
  }
  const t0 = Date.now();
  if (opts.build) run('npm', ['run', 'build', '--silent'], ROOT);
  const v = version();
  const top = `flynn-edge-${v}`;
  const work = join(opts.out, `.stage-${process.pid}`);
  const stage = join(work, top);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  try {
    const shipped = workspaces();
    for (const ws of shipped) stageWorkspace(stage, ws);
    stageManifests(stage, shipped);
    run(
      'npm',
      [
        'ci',
        '--omit=dev',
        '--ignore-scripts',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
      ],
      stage,
    );
    // npm leaves its own bookkeeping; the tree does not need it.
    rmSync(join(stage, 'node_modules/.package-lock.json'), { force: true });
    writeFileSync(join(stage, 'VERSION'), `${v}\n`);
    mkdirSync(join(stage, 'packaging'), { recursive: true });
    for (const f of ['flynn-host.service', 'install.sh']) {
      copyFileSync(join(ROOT, 'packaging', f), join(stage, 'packaging', f));
    }
    chmodSync(join(stage, 'packaging/install.sh'), 0o755);
    await writeBootstrapManifest(stage);
    sha256sums(stage);
    mkdirSync(opts.out, { recursive: true });
    const tarball = join(opts.out, `${top}.tar.gz`);
    // Fixed owner and sorted names: the same tree gives the same listing wherever it is built.
    execFileSync(
      'tar',
      ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-czf', `${tarball}.tmp`, top],
      { cwd: work },
    );
    execFileSync('mv', ['-f', `${tarball}.tmp`, tarball]);
    copyFileSync(join(ROOT, 'packaging/install.sh'), join(opts.out, 'install.sh'));
    chmodSync(join(opts.out, 'install.sh'), 0o755);
    const size = (statSync(tarball).size / 1024 / 1024).toFixed(1);
    process.stdout.write(
      `${relative(process.cwd(), tarball) || tarball} (${size} MiB, ${Date.now() - t0} ms)\n`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`release: ${err instanceof ReleaseError ? err.message : (err?.stack ?? err)}\n`);
  process.exit(1);
});
