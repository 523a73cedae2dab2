#!/usr/bin/env bash
# Start / stop K cnnviz replicas on this machine behind nginx (sticky sessions, WebSocket upgrade).
#
#   deploy/serve.sh start     K replicas on BASE_PORT.. (loopback), nginx on LISTEN:PROXY_PORT; prints the URL
#   deploy/serve.sh stop      stop nginx and the replicas started from RUN_DIR (by their pid files)
#   deploy/serve.sh status    which processes of RUN_DIR are alive
#
# Settings (environment): REPLICAS (2), BASE_PORT (8601), PROXY_PORT (8600), LISTEN (127.0.0.1; 0.0.0.0 to
# serve a classroom), RUN_DIR (/tmp/cnnviz-serve: pids, logs, nginx.conf, nginx temp files), PYTHON
# (.venv/bin/python when there is one), NGINX (nginx on PATH or /usr/sbin/nginx), PIN (1: taskset each
# replica to its share of the cores), CNNVIZ_THREADS (default: that share), CNNVIZ_CACHE (the shared
# precomputed cache every replica reads; see `cnnviz precompute`), CNNVIZ_DEVICE.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REPLICAS="${REPLICAS:-2}"
BASE_PORT="${BASE_PORT:-8601}"
PROXY_PORT="${PROXY_PORT:-8600}"
LISTEN="${LISTEN:-127.0.0.1}"
RUN_DIR="${RUN_DIR:-${TMPDIR:-/tmp}/cnnviz-serve}"
PIN="${PIN:-1}"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"

die() { echo "serve.sh: $*" >&2; exit 1; }

wait_health() {  # URL SECONDS
  "$PYTHON" - "$1" "$2" <<'PY'
import sys, time, urllib.request
url, deadline = sys.argv[1], time.time() + float(sys.argv[2])
while time.time() < deadline:
    try:
        if urllib.request.urlopen(url, timeout=2).read().strip() == b"ok":
            sys.exit(0)
    except OSError:
        time.sleep(0.3)
sys.exit(1)
PY
}

start() {
  [ -x "$NGINX" ] || die "nginx not found ($NGINX): install Debian's package (make proxy, or apt-get install nginx-light)"
  [[ "$REPLICAS" =~ ^[1-9][0-9]*$ ]] || die "REPLICAS=$REPLICAS is not a positive integer"
  mkdir -p "$RUN_DIR"/tmp
  local cores share upstreams="" i port first cpus
  cores="$(nproc)"
  share=$(( cores / REPLICAS )); [ "$share" -ge 1 ] || share=1
  for (( i = 0; i < REPLICAS; i++ )); do
    port=$(( BASE_PORT + i ))
    first=$(( (i * share) % cores ))
    cpus="$first-$(( first + share - 1 ))"
    local pin=()
    if [ "$PIN" = 1 ] && command -v taskset >/dev/null 2>&1; then pin=(taskset -c "$cpus"); fi
    (
      export CNNVIZ_REPLICAS="$REPLICAS" CNNVIZ_THREADS="${CNNVIZ_THREADS:-$share}"
      cd "$ROOT"
      exec "${pin[@]}" "$PYTHON" -m streamlit run "$ROOT/app.py" --server.port "$port" \
        --server.address 127.0.0.1 --server.headless true --server.fileWatcherType none \
        --server.runOnSave false --browser.gatherUsageStats false --server.maxUploadSize 300 \
        --theme.base light --theme.primaryColor "#4C78A8"
    ) >"$RUN_DIR/replica-$i.log" 2>&1 &
    echo $! >"$RUN_DIR/replica-$i.pid"
    upstreams+="        server 127.0.0.1:$port max_fails=0;"$'\n'
    echo "replica $i: 127.0.0.1:$port, cores $([ ${#pin[@]} -gt 0 ] && echo "$cpus" || echo all)," \
      "CNNVIZ_THREADS=${CNNVIZ_THREADS:-$share}"
  done
  for (( i = 0; i < REPLICAS; i++ )); do
    wait_health "http://127.0.0.1:$(( BASE_PORT + i ))/_stcore/health" 120 \
      || die "replica $i did not answer /_stcore/health within 120 s; see $RUN_DIR/replica-$i.log"
  done
  local user_line=""
  [ "$(id -u)" = 0 ] && user_line="user $(id -un);"  # workers run as the current user, not nobody
  RUN_DIR="$RUN_DIR" PROXY_PORT="$PROXY_PORT" LISTEN="$LISTEN" USER_LINE="$user_line" UPSTREAMS="$upstreams" \
    "$PYTHON" - "$ROOT/deploy/nginx.conf.template" "$RUN_DIR/nginx.conf" <<'PY'
import os, sys
text = open(sys.argv[1]).read()
for name in ("RUN_DIR", "PROXY_PORT", "LISTEN", "USER_LINE", "UPSTREAMS"):
    text = text.replace(f"@{name}@", os.environ[name].rstrip("\n"))
open(sys.argv[2], "w").write(text)
PY
  "$NGINX" -p "$RUN_DIR" -e "$RUN_DIR/error.log" -c "$RUN_DIR/nginx.conf" -t -q \
    || die "nginx rejected $RUN_DIR/nginx.conf (see above)"
  "$NGINX" -p "$RUN_DIR" -e "$RUN_DIR/error.log" -c "$RUN_DIR/nginx.conf"
  wait_health "http://$([ "$LISTEN" = 0.0.0.0 ] && echo 127.0.0.1 || echo "$LISTEN"):$PROXY_PORT/_stcore/health" 30 \
    || die "nginx does not answer on $LISTEN:$PROXY_PORT; see $RUN_DIR/error.log"
  echo "cnnviz: http://$LISTEN:$PROXY_PORT  ($REPLICAS replicas; logs and pids in $RUN_DIR)"
}

stop_pid() {  # PIDFILE
  [ -f "$1" ] || return 0
  local pid; pid="$(cat "$1")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

stop() {
  if [ -f "$RUN_DIR/nginx.pid" ]; then
    "$NGINX" -p "$RUN_DIR" -e "$RUN_DIR/error.log" -c "$RUN_DIR/nginx.conf" -s quit 2>/dev/null || true
    for _ in $(seq 50); do [ -f "$RUN_DIR/nginx.pid" ] || break; sleep 0.1; done
    stop_pid "$RUN_DIR/nginx.pid"
  fi
  for f in "$RUN_DIR"/replica-*.pid; do [ -e "$f" ] && stop_pid "$f" & done
  wait  # the replicas shut down side by side
  echo "stopped the processes of $RUN_DIR"
}

status() {
  for f in "$RUN_DIR"/nginx.pid "$RUN_DIR"/replica-*.pid; do
    [ -e "$f" ] || continue
    if kill -0 "$(cat "$f")" 2>/dev/null; then echo "$(basename "$f" .pid): running ($(cat "$f"))"
    else echo "$(basename "$f" .pid): dead"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status (settings: see the top of this file)" >&2; exit 2 ;;
esac
