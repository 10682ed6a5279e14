#!/usr/bin/env bash
# Reload benchmark: what clients see when the server is reloaded under keep-alive load, staticd against nginx.
#
# Why it exists: issue 12 asks that a reload (HUP) be invisible to clients. nginx closes idle keep-alive
# connections on reload, so a request racing each close is lost; staticd hands them to its new workers. This
# runs the issue's measurement: `wrk -c64` keep-alive for 8 s with 5 HUPs, per server, alternating servers
# over ROUNDS rounds, and prints requests, socket errors and non-2xx responses per run.
#
# Run from anywhere:  benches/reload.sh         (needs wrk and nginx; installs them with apt-get if missing)
# Knobs: ROUNDS (3), DURATION (8), HUPS (5), CONNS (64), WORKERS (2), STATICD_BIN, SERVERS ("staticd nginx";
# add staticd_before with STATICD_BEFORE_BIN=/path/to/an/older/staticd for a before/after comparison).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
HUPS=${HUPS:-5}
CONNS=${CONNS:-64}
WORKERS=${WORKERS:-2}
SERVERS=${SERVERS:-staticd nginx}
STATICD_BIN=${STATICD_BIN:-}
STATICD_BEFORE_BIN=${STATICD_BEFORE_BIN:-}

log() { printf '[reload %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

for tool in wrk nginx; do
    if ! command -v "$tool" >/dev/null; then
        log "installing $tool"
        pkg=$tool
        [[ $tool == nginx ]] && pkg=nginx-light
        apt-get install -y -qq "$pkg" >/dev/null
    fi
done
if [[ -z $STATICD_BIN ]]; then
    (cd "$REPO" && cargo build --release -q)
    STATICD_BIN=$REPO/target/release/staticd
fi

TMP=$(mktemp -d /tmp/staticd-reload.XXXXXX)
SERVER_PID=""
cleanup() {
    [[ -n $SERVER_PID ]] && kill -TERM "$SERVER_PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
# nginx's workers run as nobody and must reach the files.
chmod 755 "$TMP"
mkdir -p "$TMP/www"
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 >"$TMP/www/index.html"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts server $1 on port $2; sets SERVER_PID to the process that takes HUP.
start_server() {
    local name=$1 port=$2
    case $name in
        staticd | staticd_before)
            local bin=$STATICD_BIN
            [[ $name == staticd_before ]] && bin=$STATICD_BEFORE_BIN
            "$bin" --listen "127.0.0.1:$port" --workers "$WORKERS" --access-log off "$TMP/www" \
                2>"$TMP/staticd.err" &
            SERVER_PID=$!
            ;;
        nginx)
            cat >"$TMP/nginx.conf" <<EOF
worker_processes $WORKERS;
pid $TMP/nginx.pid;
error_log $TMP/nginx.err;
daemon off;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$port; root $TMP/www; }
}
EOF
            nginx -c "$TMP/nginx.conf" -p "$TMP" &
            SERVER_PID=$!
            ;;
        *) log "unknown server $name" && exit 2 ;;
    esac
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/index.html" && return 0
        sleep 0.05
    done
    log "$name did not start" && exit 1
}

stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# One run: prints "requests socket_errors non_2xx".
run_once() {
    local name=$1 port
    port=$(free_port)
    start_server "$name" "$port"
    wrk -t2 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$port/index.html" >"$TMP/wrk.out" 2>&1 &
    local wrk_pid=$!
    local gap
    gap=$(python3 -c "print($DURATION / ($HUPS + 1))")
    for _ in $(seq "$HUPS"); do
        sleep "$gap"
        kill -HUP "$SERVER_PID"
    done
    wait "$wrk_pid"
    stop_server
    python3 - "$TMP/wrk.out" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
req = re.search(r"(\d+) requests in", text)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = sum(int(g) for g in sock.groups()) if sock else 0
print(req.group(1) if req else "0", errors, non2xx.group(1) if non2xx else "0")
EOF
}

printf '| round | server | requests | socket errors | non-2xx |\n|---|---|---:|---:|---:|\n'
for round in $(seq "$ROUNDS"); do
    for name in $SERVERS; do
        log "round $round: $name"
        read -r requests errors non2xx < <(run_once "$name")
        printf '| %s | %s | %s | %s | %s |\n' "$round" "$name" "$requests" "$errors" "$non2xx"
    done
done
