#!/usr/bin/env node
// Proves the `npm i` path: packs the linux-x64-gnu platform package and the main package with
// `npm pack`, installs both tarballs into an empty temporary project with no Rust toolchain on
// PATH, and runs a smoke script there that opens a KVault, a ColumnVault and a Board.
// Usage: node scripts/pack-smoke.js [--keep]   (exit code 0 when the installed package works)
'use strict'
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
const platform = 'linux-x64-gnu'
const binary = `${pkg.napi.binaryName}.${platform}.node`
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ambervault-pack-'))

// No cargo, rustc or rustup on PATH: the installed package must not need them.
const pathWithoutRust = (process.env.PATH || '')
  .split(path.delimiter)
  .filter((dir) => !['cargo', 'rustc', 'rustup'].some((tool) => fs.existsSync(path.join(dir, tool))))
  .join(path.delimiter)
const env = { ...process.env, PATH: pathWithoutRust, npm_config_update_notifier: 'false' }
const run = (cmd, args, cwd, extraEnv = env) =>
  execFileSync(cmd, args, { cwd, env: extraEnv, stdio: ['ignore', 'pipe', 'inherit'] }).toString()
const npmPack = (dir) => {
  const out = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], dir, process.env))
  return path.join(tmp, out[0].filename)
}

try {
  // 1. The platform package carries the built binary.
  const platformDir = path.join(root, 'npm', platform)
  if (!fs.existsSync(path.join(root, binary))) throw new Error(`${binary} is not built: run npm run build first`)
  fs.copyFileSync(path.join(root, binary), path.join(platformDir, binary))
  const platformTgz = npmPack(platformDir)

  // 2. The main package, staged with the optional dependencies a publish would add.
  const stage = path.join(tmp, 'stage')
  fs.mkdirSync(stage)
  for (const entry of [...pkg.files, 'README.md']) {
    const from = path.join(root, entry)
    if (fs.existsSync(from)) fs.cpSync(from, path.join(stage, entry), { recursive: true })
  }
  // A publish lists every platform package; only this one is built here, and the others do not
  // exist on the registry, so the staged package names just the one the project installs.
  const staged = { ...pkg, optionalDependencies: { [`${pkg.napi.binaryName}-${platform}`]: pkg.version } }
  delete staged.devDependencies
  delete staged.scripts
  fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(staged, null, 2))
  const mainTgz = npmPack(stage)

  // 3. An empty project installs both tarballs and runs the smoke script.
  const project = path.join(tmp, 'project')
  fs.mkdirSync(project)
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'smoke', private: true }))
  run('npm', ['install', '--no-audit', '--no-fund', platformTgz, mainTgz], project)
  fs.copyFileSync(path.join(__dirname, 'smoke.js'), path.join(project, 'smoke.js'))
  fs.copyFileSync(path.join(__dirname, 'smoke.mjs'), path.join(project, 'smoke.mjs'))
  process.stdout.write(run(process.execPath, ['smoke.js'], project))
  process.stdout.write(run(process.execPath, ['smoke.mjs'], project))
  process.stdout.write(run(path.join(project, 'node_modules', '.bin', 'amber'), ['--help'], project))
  console.log(`pack-smoke: ok (${path.basename(platformTgz)}, ${path.basename(mainTgz)})`)
} finally {
  fs.rmSync(path.join(root, 'npm', platform, binary), { force: true })
  if (!process.argv.includes('--keep')) fs.rmSync(tmp, { recursive: true, force: true })
}
