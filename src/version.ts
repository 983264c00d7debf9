import binding from './native'

/** Version of the loaded native module (diagnostics). */
export function nativeVersion(): string {
  return binding.nativeVersion()
}
