/**
 * The native module, loaded by the napi-generated loader at the package root (it picks the
 * platform binary: a local `ambervault.<platform>.node` or the `ambervault-<platform>` package).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const binding: typeof import('../index') = require('../index.js')
export default binding
