// The ESM entry point of the installed package exports the same API.
import { KVault, ColumnVault, Board, VaultError, nativeVersion } from 'ambervault'
for (const [name, value] of Object.entries({ KVault, ColumnVault, Board, VaultError })) {
  if (typeof value !== 'function') throw new Error(`import: ${name} is missing`)
}
console.log(`smoke (import): native module ${nativeVersion()} loaded`)
