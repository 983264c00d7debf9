// Writes dist/index.mjs: the `import` entry point re-exports the CommonJS build by name, so
// `import { KVault } from 'ambervault'` and `require('ambervault')` share one module instance.
'use strict'
const fs = require('node:fs')
const path = require('node:path')

const dist = path.join(__dirname, '..', 'dist')
const api = require(path.join(dist, 'index.js'))
const names = Object.keys(api).filter((n) => n !== 'default' && n !== '__esModule')
const body =
  `import api from './index.js'\n` +
  `export const { ${names.join(', ')} } = api\n` +
  `export default api\n`
fs.writeFileSync(path.join(dist, 'index.mjs'), body)
