#!/usr/bin/env bash
# The services the specs of the PostgreSQL + S3 server mode need (issue #18), on 127.0.0.1 only:
# PostgreSQL from Debian's packages (a throwaway cluster: user `amber`, trust auth, database
# `amber`) and moto's S3 server from PyPI (a venv kept in the dev cache) with a bucket `amber-test`.
#
#   scripts/services.sh start [--env FILE] [--owner PID] [--only pg|s3|pg,s3]
#   scripts/services.sh stop  [--env FILE]
#   scripts/services.sh env   [--env FILE]     # `export` lines: eval "$(scripts/services.sh env)"
#   scripts/services.sh pg-restart|pg-stop|pg-start|s3-pause|s3-resume|s3-stop|s3-start [--env FILE]
#
# FILE (default __test__/artifacts/services.env) receives the settings as KEY=VALUE lines (shell
# syntax: `set -a; . FILE; set +a`). Each start gets a state folder of its own,
# /tmp/amber-services.XXXXXX, holding the cluster, the socket, the logs and the pids; `stop` stops
# exactly what it records and removes it. A start first stops what FILE still names and every state
# folder whose owner is gone: `--owner PID` ties the services to a process (scripts/test.sh passes
# its own pid, a spec its worker's), else they belong to FILE and last until `stop`. So a killed run
# leaves nothing that confuses or outlives the next start.
#
# AMBER_TEST_PG_URL or AMBER_TEST_S3_ENDPOINT already set (real services) start nothing for that
# service. A missing PostgreSQL or python3 prints one line and is no failure: the specs that need
# the service skip and say why. moto keeps objects in memory: s3-stop/s3-start lose them (and make
# the bucket anew), s3-pause/s3-resume (SIGSTOP/SIGCONT) keep them; a paused server accepts
# connections and never answers, so clients fail by their timeouts.
set -uo pipefail
cd "$(dirname "$0")/.."

BUCKET=amber-test
# moto's S3 and the web server it runs under; moto[server] would also pull in every other AWS
# service's dependencies (twice the size and install time) that an S3 server never imports.
MOTO_SPEC="moto[s3]>=5.1,<6 flask flask-cors"
CACHE=${AMBERVAULT_DEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ambervault-dev}
VENV=$CACHE/venv-moto
# Root runs the cluster as the postgres user, which must reach the folder: /tmp, not a private TMPDIR.
if [ "$(id -u)" -eq 0 ]; then STATE_BASE=/tmp; else STATE_BASE=${TMPDIR:-/tmp}; fi

say() { echo "services: $*" >&2; }

cmd=${1:-}
[ $# -gt 0 ] && shift
envfile=__test__/artifacts/services.env
owner=
only=pg,s3
while [ $# -gt 0 ]; do
  case $1 in
    --env) envfile=$2; shift 2 ;;
    --owner) owner=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) say "unknown argument $1"; exit 2 ;;
  esac
done
envfile=$(realpath -m "$envfile")

# --- processes -------------------------------------------------------------------------------

# A process's start time (clock ticks since boot), so a reused pid is not taken for its owner.
start_time() { [ -r "/proc/$1/stat" ] && sed 's/.*) //' "/proc/$1/stat" | awk '{print $20}'; }
cmdline_has() { [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2"; }

# Run a PostgreSQL program as the cluster's owner: initdb and postgres refuse root.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close() })'
}

# Whether the state folder $1 still has an owner: its --owner process, or else the env file that
# names it (a start in progress is owned by the services.sh doing it).
owned() {
  local dir=$1 pid t
  if [ -f "$dir/owner" ]; then
    read -r pid t <"$dir/owner"
    [ -n "$pid" ] && [ "$(start_time "$pid")" = "$t" ]
    return
  fi
  [ -f "$dir/envfile" ] && grep -qxF "AMBER_TEST_SERVICES_DIR=$dir" "$(cat "$dir/envfile")" 2>/dev/null
}

# --- PostgreSQL ------------------------------------------------------------------------------

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/postgres" ] && echo "$d"
}

pg_stop_dir() {
  local dir=$1 bin pid
  [ -f "$dir/pg/data/postmaster.pid" ] || return 0
  bin=$(cat "$dir/pg/bin" 2>/dev/null)
  as_pg "$bin/pg_ctl" -D "$dir/pg/data" stop -m fast -w -t 20 >/dev/null 2>&1 ||
    as_pg "$bin/pg_ctl" -D "$dir/pg/data" stop -m immediate -w -t 10 >/dev/null 2>&1
  pid=$(head -n 1 "$dir/pg/data/postmaster.pid" 2>/dev/null)
  if [ -n "$pid" ] && cmdline_has "$pid" "$dir/pg/data"; then kill -KILL "$pid" 2>/dev/null; fi
  return 0
}

pg_start_dir() {
  local dir=$1 bin
  bin=$(cat "$dir/pg/bin")
  as_pg "$bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/log" -w -t 60 start >/dev/null
}

# Make and start a cluster in $1/pg; prints nothing, fails with a reason on stderr.
pg_setup() {
  local dir=$1 bin port try
  bin=$(pg_bin) || { say "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres; apt-get install postgresql): the specs that need it skip"; return 1; }
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    say "no postgres user to run PostgreSQL as root: the specs that need it skip"; return 1
  fi
  mkdir -p "$dir/pg"
  echo "$bin" >"$dir/pg/bin"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/pg"
  chmod 700 "$dir/pg"
  # -N: no fsync while making the cluster; fsync=off below: only an OS crash could lose data, and
  # a test cluster does not outlive one. Killing postgres loses nothing committed.
  if ! as_pg "$bin/initdb" -D "$dir/pg/data" -U amber --auth=trust -E UTF8 --locale=C -N >"$dir/pg/initdb.log" 2>&1; then
    say "initdb failed ($(tail -n 1 "$dir/pg/initdb.log")): the specs that need PostgreSQL skip"; return 1
  fi
  cat >>"$dir/pg/data/postgresql.conf" <<EOF
# scripts/services.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/pg'
fsync = off
max_connections = 300
EOF
  # A port picked free can be taken before postgres binds it: try another.
  for try in 1 2 3; do
    port=$(free_port)
    echo "port = $port" >>"$dir/pg/data/postgresql.conf"
    echo "$port" >"$dir/pg/port"
    if pg_start_dir "$dir" 2>/dev/null; then
      "$bin/psql" -q -h 127.0.0.1 -p "$port" -U amber -d postgres -c 'CREATE DATABASE amber' >/dev/null && return 0
      say "could not create the database amber: the specs that need PostgreSQL skip"; return 1
    fi
  done
  say "PostgreSQL did not start ($(tail -n 1 "$dir/pg/log" 2>/dev/null)): the specs that need it skip"
  return 1
}

# --- moto (S3) -------------------------------------------------------------------------------

venv_ok() { [ -x "$1/bin/python" ] && [ "$(cat "$1/amber-spec" 2>/dev/null)" = "$MOTO_SPEC" ] && "$1/bin/python" -c 'import moto.server' 2>/dev/null; }

# The moto venv, made once per machine. Built in a folder of its own and renamed into place, so
# two starts at once (two checkouts, a spec's private services) never use a half-built one.
ensure_venv() {
  venv_ok "$VENV" && return 0
  command -v python3 >/dev/null || { say "python3 is missing: the specs that need S3 (moto) skip"; return 1; }
  mkdir -p "$CACHE"
  local tmp=$VENV.building-$$ t0=$SECONDS
  rm -rf "$tmp"
  say "installing moto into $VENV (once per machine)"
  # shellcheck disable=SC2086  # MOTO_SPEC is a list of requirements
  if ! { python3 -m venv "$tmp" && "$tmp/bin/python" -m pip install -q --disable-pip-version-check $MOTO_SPEC; } >"$tmp.log" 2>&1; then
    say "could not install moto ($(tail -n 1 "$tmp.log")): the specs that need S3 skip"
    rm -rf "$tmp" "$tmp.log"; return 1
  fi
  echo "$MOTO_SPEC" >"$tmp/amber-spec"
  if ! venv_ok "$VENV"; then
    rm -rf "$VENV"
    mv -T "$tmp" "$VENV" 2>/dev/null # another start may have renamed its own in first: then use that one
  fi
  rm -rf "$tmp" "$tmp.log"
  say "moto installed in $((SECONDS - t0)) s"
  venv_ok "$VENV"
}

# Launch moto on $2 (in a session of its own: a Ctrl-C to the test run does not reach it; stop does).
moto_launch() {
  local dir=$1 port=$2
  echo "$port" >"$dir/moto.port"
  setsid "$VENV/bin/python" -m moto.server -H 127.0.0.1 -p "$port" >>"$dir/moto.log" 2>&1 </dev/null &
  echo $! >"$dir/moto.pid"
}

# Wait until moto answers and make the bucket; fails when it exits or does not answer in 30 s.
moto_ready() {
  local dir=$1 port pid
  port=$(cat "$dir/moto.port"); pid=$(cat "$dir/moto.pid")
  "$VENV/bin/python" - "$port" "$pid" "$BUCKET" <<'EOF'
import os, sys, time, urllib.request
port, pid, bucket = sys.argv[1], int(sys.argv[2]), sys.argv[3]
base = f"http://127.0.0.1:{port}"
for _ in range(300):
    try:
        urllib.request.urlopen(base + "/moto-api/", timeout=1).read()
        break
    except Exception:
        try:
            os.kill(pid, 0)
        except OSError:
            sys.exit(1)
        time.sleep(0.1)
else:
    sys.exit(1)
urllib.request.urlopen(urllib.request.Request(f"{base}/{bucket}", method="PUT"), timeout=10).read()
EOF
}

moto_stop_dir() {
  local dir=$1 pid me i
  pid=$(cat "$dir/moto.pid" 2>/dev/null)
  me="moto.server -H 127.0.0.1 -p $(cat "$dir/moto.port" 2>/dev/null) " # not another folder's moto that got a reused pid
  [ -n "$pid" ] && cmdline_has "$pid" "$me" || return 0
  kill -CONT "$pid" 2>/dev/null # a paused server would never act on TERM
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 50); do cmdline_has "$pid" "$me" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  return 0
}

# --- state folders ---------------------------------------------------------------------------

stop_dir() {
  local dir=$1 ef
  [ -d "$dir" ] || return 0
  moto_stop_dir "$dir"
  pg_stop_dir "$dir"
  ef=$(cat "$dir/envfile" 2>/dev/null)
  if [ -n "$ef" ] && grep -qxF "AMBER_TEST_SERVICES_DIR=$dir" "$ef" 2>/dev/null; then rm -f "$ef"; fi
  rm -rf "$dir"
}

# The state folder FILE names, if it still exists.
dir_of_envfile() {
  local d
  d=$(sed -n 's/^AMBER_TEST_SERVICES_DIR=//p' "$envfile" 2>/dev/null | tail -n 1)
  case $d in "$STATE_BASE"/amber-services.*) [ -d "$d" ] && echo "$d" ;; esac
}

sweep() {
  local d
  d=$(dir_of_envfile) && [ -n "$d" ] && stop_dir "$d"
  rm -f "$envfile"
  for d in "$STATE_BASE"/amber-services.*; do
    [ -d "$d" ] || continue
    owned "$d" || stop_dir "$d"
  done
}

# KEY=VALUE, the value quoted for the shell only if it needs it (services.ts reads these too).
kv() {
  if [[ $2 =~ ^[A-Za-z0-9_./:@%+,=-]*$ ]]; then printf '%s=%s\n' "$1" "$2"
  else printf "%s='%s'\n" "$1" "${2//\'/\'\\\'\'}"; fi
}

start() {
  local t0=$SECONDS dir want_pg=0 want_s3=0 pg_ok=0 s3_ok=0 try summary=()
  case ",$only," in *,pg,*) want_pg=1 ;; esac
  case ",$only," in *,s3,*) want_s3=1 ;; esac
  if [ -n "${AMBER_TEST_PG_URL:-}" ] && [ $want_pg = 1 ]; then want_pg=0; summary+=("PostgreSQL from AMBER_TEST_PG_URL"); fi
  if [ -n "${AMBER_TEST_S3_ENDPOINT:-}" ] && [ $want_s3 = 1 ]; then want_s3=0; summary+=("S3 from AMBER_TEST_S3_ENDPOINT"); fi
  mkdir -p "$(dirname "$envfile")"
  # Under the lock, a folder is never seen by another start's sweep before it names its owner.
  exec 9>>"$STATE_BASE/amber-services.lock" && flock 9
  sweep
  dir=$(mktemp -d "$STATE_BASE/amber-services.XXXXXX") || { say "cannot make a state folder in $STATE_BASE"; return 1; }
  chmod 755 "$dir"
  echo "$$ $(start_time $$)" >"$dir/owner" # until started: a sweep elsewhere leaves it alone
  echo "$envfile" >"$dir/envfile"
  exec 9>&-
  # Interrupted half-way (Ctrl-C, a killed test worker): stop what was started so far.
  starting=$dir
  trap 'stop_dir "$starting"; exit 130' INT
  trap 'stop_dir "$starting"; exit 143' TERM HUP

  # moto starts in the background while the cluster is made.
  if [ $want_s3 = 1 ] && ensure_venv; then moto_launch "$dir" "$(free_port)"; fi
  if [ $want_pg = 1 ] && pg_setup "$dir"; then pg_ok=1; fi
  if [ -f "$dir/moto.pid" ]; then
    for try in 1 2 3; do
      if moto_ready "$dir"; then s3_ok=1; break; fi
      moto_stop_dir "$dir"
      moto_launch "$dir" "$(free_port)"
    done
    [ $s3_ok = 1 ] || { moto_stop_dir "$dir"; say "moto did not start ($(tail -n 1 "$dir/moto.log")): the specs that need S3 skip"; }
  fi

  {
    kv AMBER_TEST_SERVICES_DIR "$dir"
    if [ $pg_ok = 1 ]; then
      kv AMBER_TEST_PG_URL "postgres://amber@127.0.0.1:$(cat "$dir/pg/port")/amber"
      kv AMBER_TEST_PG_DATA "$dir/pg/data"
      kv AMBER_TEST_PG_CTL "$(cat "$dir/pg/bin")/pg_ctl"
      if [ "$(id -u)" -eq 0 ]; then kv AMBER_TEST_PG_OS_USER postgres; fi
    fi
    if [ $s3_ok = 1 ]; then
      kv AMBER_TEST_S3_ENDPOINT "http://127.0.0.1:$(cat "$dir/moto.port")"
      kv AMBER_TEST_S3_BUCKET "$BUCKET"
      kv AMBER_TEST_S3_PID "$(cat "$dir/moto.pid")"
      kv AWS_ACCESS_KEY_ID testing
      kv AWS_SECRET_ACCESS_KEY testing
      kv AWS_REGION us-east-1
    elif [ -n "${AMBER_TEST_S3_ENDPOINT:-}" ]; then
      kv AMBER_TEST_S3_BUCKET "${AMBER_TEST_S3_BUCKET:-$BUCKET}"
    fi
    # The SDK warns once per process that its 2027 releases need Node 22; not news in a test log.
    kv AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED true
  } >"$envfile.tmp.$$" && mv "$envfile.tmp.$$" "$envfile"
  if [ -n "$owner" ]; then echo "$owner $(start_time "$owner")" >"$dir/owner"; else rm -f "$dir/owner"; fi
  trap - INT TERM HUP

  [ $pg_ok = 1 ] && summary+=("PostgreSQL $(basename "$(dirname "$(cat "$dir/pg/bin")")") on 127.0.0.1:$(cat "$dir/pg/port")")
  [ $s3_ok = 1 ] && summary+=("S3 (moto) on 127.0.0.1:$(cat "$dir/moto.port"), bucket $BUCKET")
  local joined="no services; "
  [ ${#summary[@]} -gt 0 ] && joined=$(printf '%s; ' "${summary[@]}")
  say "${joined}started in $((SECONDS - t0)) s, settings in $envfile"
}

# The state folder of FILE for the subcommands that act on running services.
need_dir() {
  dir=$(dir_of_envfile)
  [ -n "$dir" ] || { say "no services started with $envfile"; exit 1; }
}
need_moto() { need_dir; pid=$(cat "$dir/moto.pid" 2>/dev/null); [ -n "$pid" ] || { say "no S3 server in $dir"; exit 1; }; }
need_pg() { need_dir; [ -d "$dir/pg/data" ] || { say "no PostgreSQL in $dir"; exit 1; }; }

case $cmd in
  start) start ;;
  stop) d=$(dir_of_envfile); [ -n "$d" ] && stop_dir "$d"; rm -f "$envfile" ;;
  env)
    [ -f "$envfile" ] || { say "no $envfile: run scripts/services.sh start"; exit 1; }
    sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*=\)/export \1/p' "$envfile" ;;
  pg-restart) need_pg; as_pg "$(cat "$dir/pg/bin")/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/log" -w -t 60 restart -m fast >/dev/null ;;
  pg-stop) need_pg; as_pg "$(cat "$dir/pg/bin")/pg_ctl" -D "$dir/pg/data" -w -t 60 stop -m fast >/dev/null ;;
  pg-start) need_pg; pg_start_dir "$dir" ;;
  s3-pause) need_moto; kill -STOP "$pid" ;;
  s3-resume) need_moto; kill -CONT "$pid" ;;
  s3-stop) need_moto; moto_stop_dir "$dir" ;;
  s3-start)
    need_moto; moto_launch "$dir" "$(cat "$dir/moto.port")"
    sed -i "s/^AMBER_TEST_S3_PID=.*/AMBER_TEST_S3_PID=$(cat "$dir/moto.pid")/" "$envfile"
    moto_ready "$dir" ;;
  *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
