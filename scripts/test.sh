#!/usr/bin/env bash
# The test command (npm test): Rust formatting and lints, the core's cargo tests, the TypeScript
# type check, then the ava suite against the built native module. Every stage runs even when an
# earlier one failed, so one run shows everything; the last line is `N passed, N failed` counted
# from ava's TAP output, and the exit code is non-zero if any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
if [ ! -d node_modules ] || ! ls ambervault.*.node >/dev/null 2>&1; then
  echo "== npm install (first run in this checkout: installs and builds the native module)"
  AMBERVAULT_BUILD=${AMBERVAULT_BUILD:-debug} npm install --no-audit --no-fund || exit 1
fi
stage() {
  local name=$1; shift
  echo "== $name"
  if ! "$@"; then
    echo "!! $name failed"
    status=1
  fi
}

# napi build compiles for the host triple into target/<triple>/: lint and test for that same triple so
# they reuse its compiled dependencies (bundled SQLite included) instead of building them again.
host=$(rustc -vV | sed -n 's/^host: //p')
stage "cargo fmt --check" cargo fmt --all -- --check
stage "cargo clippy" cargo clippy --workspace --all-targets --target "$host" -- -D warnings
stage "cargo test" cargo test --workspace --target "$host"
stage "typecheck" npx tsc -p tsconfig.json --noEmit

mkdir -p __test__/artifacts
# PostgreSQL and an S3 server (moto) for the specs of the PostgreSQL + S3 server mode: up before ava,
# stopped when this script exits however it exits (one missing makes the specs that need it skip).
# Tied to this script's pid, so a killed run's services are stopped by the next start.
services_env=__test__/artifacts/services.$$.env
trap 'bash scripts/services.sh stop --env "$services_env" >/dev/null 2>&1' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
echo "== services"
bash scripts/services.sh start --env "$services_env" --owner $$
if [ -f "$services_env" ]; then set -a; . "$services_env"; set +a; fi

tap=__test__/artifacts/ava.tap
echo "== ava"
npx ava --tap "$@" | tee "$tap"
ava_rc=${PIPESTATUS[0]}
passed=$(grep -cE '^ok [0-9]+' "$tap" || true)
failed=$(grep -cE '^not ok [0-9]+' "$tap" || true)
skipped=$(grep -cE '^ok [0-9]+ .*# SKIP' "$tap" || true)
passed=$((passed - skipped))
if [ "$ava_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # ava itself failed (a crashed worker, an uncaught exception): count it so it cannot pass unseen.
  failed=1
fi
[ "$failed" -eq 0 ] || status=1
[ "$ava_rc" -eq 0 ] || status=1
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
