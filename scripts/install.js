#!/usr/bin/env node
// Source checkouts build the native module and the TypeScript layer on `npm install` (the
// package's `prepare` step). Installs from the registry or a tarball never run this: they get the
// prebuilt binary from the platform package (npm/<platform>) through the optional dependency.
//
// AMBERVAULT_BUILD=debug builds the debug native module (what CI and the tests use);
// AMBERVAULT_BUILD=release (the default) builds the optimised one.
'use strict'
const { execSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const sourceCheckout = fs.existsSync(path.join(root, 'crates', 'ambervault-node', 'Cargo.toml'))
if (!sourceCheckout) process.exit(0)

const run = (cmd) => execSync(cmd, { cwd: root, stdio: 'inherit' })
const mode = process.env.AMBERVAULT_BUILD === 'debug' ? 'build:debug' : 'build'
const haveBinary = fs.readdirSync(root).some((f) => /^ambervault\..*\.node$/.test(f))
if (!haveBinary || process.env.AMBERVAULT_REBUILD) {
  console.log(`ambervault: building the native module (npm run ${mode}); the first build takes a few minutes`)
  run(`npm run ${mode}`)
} else {
  run('npm run build:ts')
}
