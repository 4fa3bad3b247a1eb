#!/usr/bin/env bash
# dynalite: a DynamoDB implementation on Node.js, used by pkg/ledger's tests and local runs.
#
#   scripts/dynalite.sh install       install the pinned dynalite into .tools/dynalite (idempotent)
#   scripts/dynalite.sh start [PORT]  start it in the background on 127.0.0.1:PORT (default 4567),
#                                     wait until it answers, print the endpoint (idempotent)
#   scripts/dynalite.sh stop [PORT]   stop the one on PORT, or every one this script started
#
# Why a lockfile: scripts/dynalite/package.json pins dynalite 4.0.0 and package-lock.json pins
# every transitive package with its integrity hash, so `npm ci` installs the same tree on every
# machine (a bare `npm install dynalite@4.0.0` would float its ^ranges to whatever is newest).
# The lockfile has no "resolved" URLs (omit-lockfile-registry-resolved): npm fetches from the
# registry configured on the machine and checks the hashes.
# Why .tools/: node_modules must never sit in the Go module tree outside a dot-folder (go test
# ./... would try to build Go files inside it); .tools/ is git-ignored.
# Why --ignore-scripts: the only install script is classic-level's node-gyp-build, which would
# compile LevelDB when no prebuilt binary fits. The package ships prebuilds for linux x64/arm64,
# dynalite runs in memory here, and a compile step would need a toolchain CI may not have; the
# smoke check after installing proves the module loads.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/scripts/dynalite"
DIR="${GPR_DYNALITE_DIR:-$ROOT/.tools/dynalite}"
RUN="$DIR/run"
HOST="${DYNALITE_HOST:-127.0.0.1}"
WAIT_SECONDS="${DYNALITE_WAIT:-30}"
VERSION="4.0.0" # keep in step with scripts/dynalite/package.json

die() { echo "dynalite: $*" >&2; exit 1; }

need_node() {
  command -v node >/dev/null 2>&1 || die "node is not installed (Debian: apt-get install -y nodejs npm; dynalite needs Node.js >= 20)"
  command -v npm >/dev/null 2>&1 || die "npm is not installed (Debian: apt-get install -y npm)"
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  ((major >= 20)) || die "Node.js $(node --version) is too old: dynalite $VERSION needs >= 20"
}

stamp() { cat "$SRC/package.json" "$SRC/package-lock.json" | sha256sum | cut -d' ' -f1; }

installed() {
  [[ -f "$DIR/.installed" && -f "$DIR/node_modules/dynalite/package.json" ]] &&
    [[ "$(cat "$DIR/.installed")" == "$(stamp)" ]]
}

install() {
  need_node
  if installed; then
    echo "dynalite: $VERSION already installed in $DIR"
    return 0
  fi
  mkdir -p "$DIR"
  # Two callers (make and a test run, say) may install at once: one installs, the other waits.
  exec 9>"$DIR.lock"
  flock 9
  if ! installed; then
    echo "dynalite: installing $VERSION into $DIR (npm ci from scripts/dynalite/package-lock.json)"
    cp "$SRC/package.json" "$SRC/package-lock.json" "$DIR/"
    rm -f "$DIR/.installed"
    npm ci --prefix "$DIR" --ignore-scripts --no-audit --no-fund --loglevel=error
    local got
    got="$(node -p "require('$DIR/node_modules/dynalite/package.json').version")"
    [[ "$got" == "$VERSION" ]] || die "installed dynalite $got, want $VERSION"
    # Smoke check: loading dynalite loads classic-level's native prebuild too.
    node -e "require('$DIR/node_modules/dynalite')" || die "dynalite $VERSION does not load on this machine"
    stamp >"$DIR/.installed"
    echo "dynalite: installed $VERSION"
  else
    echo "dynalite: $VERSION already installed in $DIR (by a concurrent install)"
  fi
  flock -u 9
}

# ours PID: true when PID is alive and is a dynalite started from serve.js (pid files can be
# stale, and PIDs are reused).
ours() {
  [[ -r "/proc/$1/cmdline" ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q 'dynalite/serve.js'
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

start() {
  local port="${1:-4567}"
  if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
    die "start: PORT must be 1..65535, got '$port'"
  fi
  local pidfile="$RUN/$port.pid" log="$RUN/$port.log" endpoint="http://$HOST:$port"
  if [[ -f "$pidfile" ]] && ours "$(cat "$pidfile")" && port_open "$port"; then
    echo "$endpoint"
    return 0
  fi
  port_open "$port" && die "start: $HOST:$port is already taken by another process"
  install >/dev/null
  mkdir -p "$RUN"
  : >"$log"
  # setsid + nohup: the server outlives this script and the shell that ran it.
  setsid nohup node "$SRC/serve.js" --dir "$DIR" --host "$HOST" --port "$port" >"$log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$pidfile"
  local deadline=$((SECONDS + WAIT_SECONDS))
  until grep -q '^dynalite listening at ' "$log" && port_open "$port"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pidfile"
      die "start: dynalite exited: $(tail -n 5 "$log")"
    fi
    if ((SECONDS >= deadline)); then
      kill "$pid" 2>/dev/null || true
      rm -f "$pidfile"
      die "start: dynalite did not answer on $HOST:$port within ${WAIT_SECONDS}s: $(tail -n 5 "$log")"
    fi
    sleep 0.05
  done
  echo "$endpoint"
}

stop_one() {
  local pidfile="$1" pid
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [[ -n "$pid" ]] && ours "$pid"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
      ours "$pid" || break
      sleep 0.1
    done
    if ours "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
    echo "dynalite: stopped pid $pid ($(basename "$pidfile" .pid))"
  fi
  rm -f "$pidfile"
}

stop() {
  if [[ $# -gt 0 ]]; then
    stop_one "$RUN/$1.pid"
    return 0
  fi
  shopt -s nullglob
  for f in "$RUN"/*.pid; do stop_one "$f"; done
}

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) die "usage: $0 install | start [PORT] | stop [PORT]" ;;
esac
