#!/usr/bin/env bash
# Upload benchmark (write mode): keep-alive GETs of a small file measured alone and while 100 MiB PUTs run
# back to back on the same one-worker server, staticd against nginx's dav module.
#
# Why it exists: staticd's write mode streams a PUT body into a hidden temp file beside the target, fsyncs it
# and renames it, all inside the worker that also serves every other connection. The claim to check is that
# a big upload neither starves the worker's keep-alive connections (req/s and p99 during uploads close to
# the baseline) nor stalls its event loop for long on a disk write or the final fsync (max latency, and the
# longest write/fsync seen under strace), and that the upload itself runs at disk-ish speed.
#
# Run from anywhere:  benches/upload.sh            (full run: 3 rounds x 10 s, 100 MiB uploads, strace)
#                     SMOKE=1 benches/upload.sh    (1 round x 2 s, 10 MiB uploads, no strace)
# Knobs (environment): see benches/README.md, section "Upload benchmark".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"

SMOKE=${SMOKE:-0}
if [[ $SMOKE == 1 ]]; then
    ROUNDS=${ROUNDS:-1}
    DUR=${DUR:-2}
    UPLOAD_MIB=${UPLOAD_MIB:-10}
    SKIP_STRACE=${SKIP_STRACE:-1}
else
    ROUNDS=${ROUNDS:-3}
    DUR=${DUR:-10}
    UPLOAD_MIB=${UPLOAD_MIB:-100}
    SKIP_STRACE=${SKIP_STRACE:-0}
fi
SERVERS=${SERVERS:-staticd nginx}
CONNS=${CONNS:-16}
SMALL_BYTES=${SMALL_BYTES:-4096}
MAX_UPLOAD=${MAX_UPLOAD:-200M}
# Where the temp dir goes: uploads must land on a real disk, so not /tmp (often a tmpfs).
BENCH_DIR=${BENCH_DIR:-/var/tmp}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
STATICD_BIN=${STATICD_BIN:-}
KEEP_TMP=${KEEP_TMP:-0}
RESULTS=${RESULTS:-}

CLK_TCK=$(getconf CLK_TCK)
declare -A PID=() PORT=() ROOT=()
declare -a HELPERS=() ACTIVE=() FAILED=()
TMP=""

LOG_TAG=upload
# shellcheck source=benches/lib.sh
source "$HERE/lib.sh"

# --- setup -------------------------------------------------------------------------------------------------

install_missing() {
    local -a want=(wrk=wrk curl=curl python3=python3 taskset=util-linux sha256sum=coreutils)
    ! has nginx || want+=(nginx=nginx-light)
    install_commands "${want[@]}"
    if has nginx && ! nginx -V 2>&1 | grep -q -- --with-http_dav_module; then
        die "this nginx has no dav module (nginx -V); install Debian's nginx-light or nginx"
    fi
    if [[ $SKIP_STRACE != 1 ]] && ! command -v strace >/dev/null; then
        log "warning: no strace: the syscall part is skipped"
        SKIP_STRACE=1
    fi
}

# lighttpd and h2o, which load.sh measures: can what is installed store a PUT? Said in the output, then skipped.
OTHERS_NOTE=""
check_others() {
    local dir found="" note
    if command -v lighttpd >/dev/null; then
        for dir in /usr/lib/lighttpd /usr/lib64/lighttpd /usr/local/lib/lighttpd /usr/lib/x86_64-linux-gnu/lighttpd; do
            [[ -e $dir/mod_webdav.so ]] && found=$dir/mod_webdav.so && break
        done
        if [[ -n $found ]]; then
            note="$(lighttpd -v 2>&1 | awk 'NR == 1 {print $1}') has $found, but this script does not drive it yet: skipped"
        else
            note="$(lighttpd -v 2>&1 | awk 'NR == 1 {print $1}') cannot store a PUT: no mod_webdav.so in its module directory (Debian: package lighttpd-mod-webdav): skipped"
        fi
    else
        note="lighttpd not installed: skipped"
    fi
    log "$note"
    OTHERS_NOTE="$note"
    if command -v h2o >/dev/null; then
        note="$(h2o -v 2>&1 | awk 'NR == 1 {print "h2o/" $3}') cannot store a PUT: its file handler serves GET and HEAD only (a PUT needs mruby or a proxied backend): skipped"
    else
        note="h2o not installed: skipped"
    fi
    log "$note"
    OTHERS_NOTE+="; $note"
}

write_fixtures() {
    local server
    # The token staticd's writes must present: at least 16 bytes, mode 0600. curl reads the header from a file.
    (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '\n=+/' >"$TMP/token")
    printf 'Authorization: Bearer %s\n' "$(cat "$TMP/token")" >"$TMP/auth.header"
    chmod 600 "$TMP/auth.header"
    # One root per server: staticd watches its root, and must not be woken by nginx's uploads.
    for server in $SERVERS; do
        ROOT[$server]=$TMP/$server/root
        mkdir -p "${ROOT[$server]}/uploads"
        head -c "$SMALL_BYTES" /dev/urandom >"${ROOT[$server]}/small.bin"
        printf 'ok\n' >"${ROOT[$server]}/ping.txt"
    done
    printf 'probe\n' >"$TMP/probe.bin"
    # The upload: UPLOAD_MIB MiB of random bytes, in the temp dir, on the same filesystem as the roots.
    head -c $((UPLOAD_MIB * 1024 * 1024)) /dev/urandom >"$TMP/big.bin"
    BIG_SHA=$(sha256sum "$TMP/big.bin" | cut -d' ' -f1)
    BIG_BYTES=$(stat -c %s "$TMP/big.bin")
    # Servers started as root drop to nobody (staticd also chroots into its root): readable by all, and
    # staticd's uploads/ writable by the user its worker runs as.
    chmod -R a+rX "$TMP"
    chmod 600 "$TMP/token" "$TMP/auth.header"
    if [[ $EUID == 0 ]] && has staticd; then
        chown nobody "${ROOT[staticd]}/uploads"
    fi
    FS_NOTE=$(df -T "$TMP" | awk 'NR == 2 {print $2 " on " $1 " (mounted at " $7 ")"}')
    mkdir -p "$TMP/wrk"
    cat >"$TMP/latency.lua" <<'EOF'
-- Prints wrk's totals and latency percentiles (microseconds) on one line the script parses.
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("SUMMARY requests=%d duration_us=%d errors=%d status_errors=%d p50_us=%d p99_us=%d max_us=%d\n",
        summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
        latency:percentile(50), latency:percentile(99), latency.max))
end
EOF
}

# --- servers -----------------------------------------------------------------------------------------------

launch_staticd() {
    local port=$1
    taskset -c "$SERVER_CPU" "$STATICD_BIN" --workers 1 --listen "127.0.0.1:$port" --access-log off \
        --compress-cache "$TMP/staticd/cache" --write /uploads/ --write-token-file "$TMP/token" \
        --max-upload-bytes "$MAX_UPLOAD" "${ROOT[staticd]}" >>"$TMP/staticd/server.log" 2>&1 &
    PID[staticd]=$!
}

launch_nginx() {
    local port=$1 dir=$TMP/nginx user_line=""
    [[ $EUID != 0 ]] || user_line="user root;"
    cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    access_log off;
    client_max_body_size 200m;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$port;
        root ${ROOT[nginx]};
        location /uploads/ {
            dav_methods PUT DELETE;
            create_full_put_path off;
        }
    }
}
EOF
    taskset -c "$SERVER_CPU" nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" >>"$dir/stderr.log" 2>&1 &
    PID[nginx]=$!
}

# The process that serves connections: staticd's worker (staticd-w0), nginx's worker process.
worker_pid() {
    local pid comm
    while read -r pid; do
        comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
        case $1:$comm in
            staticd:staticd-w*) echo "$pid" && return ;;
            nginx:*) [[ $pid == "${PID[nginx]}" ]] || { echo "$pid" && return; } ;;
        esac
    done < <(proc_tree "${PID[$1]}")
    die "no worker process found under $1 (pid ${PID[$1]})"
}

start() {
    local server=$1 port i code pid cpus
    port=$(free_port)
    PORT[$server]=$port
    "launch_$server" "$port"
    for ((i = 0; i < 100; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/ping.txt" || true)
        [[ $code == 000 ]] || break
        kill -0 "${PID[$server]}" 2>/dev/null || die "$server exited; see $TMP/$server/"
        sleep 0.1
    done
    ((i < 100)) || die "$server does not answer on 127.0.0.1:$port; see $TMP/$server/"
    [[ $code == 200 ]] || die "$server: GET /ping.txt gave $code"
    while read -r pid; do
        cpus=$(awk '/^Cpus_allowed_list/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        [[ -z $cpus || $cpus == "$SERVER_CPU" ]] || die "$server process $pid runs on CPUs $cpus, not $SERVER_CPU"
    done < <(proc_tree "${PID[$server]}")
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/small.bin")
    [[ $code == 200 ]] || die "$server: GET /small.bin gave $code"
    # Write mode present? A small PUT must be stored (201 Created; 204 if it replaced a file).
    code=$(curl -sS -o "$TMP/$server/probe.out" -w '%{http_code}' --max-time 10 -T "$TMP/probe.bin" \
        -H "@$TMP/auth.header" "http://127.0.0.1:$port/uploads/probe.bin" 2>>"$TMP/$server/curl.err" || true)
    if [[ $code != 201 && $code != 204 ]]; then
        log "error: $server answered PUT /uploads/probe.bin with $code, not 201/204$(
            [[ $server != staticd || $code != 405 ]] || echo ' (this staticd has no write mode yet)'): $server skipped"
        FAILED+=("$server: PUT answered $code")
        stop_server "$server"
        return 1
    fi
    cmp -s "$TMP/probe.bin" "${ROOT[$server]}/uploads/probe.bin" || die "$server: the probe PUT stored other bytes"
    rm -f "${ROOT[$server]}/uploads/probe.bin"
    log "$server: pid ${PID[$server]}, worker $(worker_pid "$server"), port $port, PUT stored ($code)"
}

# --- measuring ---------------------------------------------------------------------------------------------

# wrk ROUND SERVER PHASE DURATION: keep-alive GETs of small.bin; one line in runs.tsv.
run_wrk() {
    local round=$1 server=$2 phase=$3 dur=$4 out before after load busy0 busy1 wall
    load=$(cut -d' ' -f1 /proc/loadavg)
    before=$(tree_ticks "${PID[$server]}")
    busy0=$(cpu_busy "$SERVER_CPU")
    busy1=$(cpu_busy "$CLIENT_CPU")
    wall=$EPOCHREALTIME
    out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c "$CONNS" -d "${dur}s" --timeout 30s -s "$TMP/latency.lua" \
        "http://127.0.0.1:${PORT[$server]}/small.bin" 2>&1) || log "warning: wrk failed for $server"
    after=$(tree_ticks "${PID[$server]}")
    busy0=$(($(cpu_busy "$SERVER_CPU") - busy0))
    busy1=$(($(cpu_busy "$CLIENT_CPU") - busy1))
    wall=$(awk -v a="$wall" -v b="$EPOCHREALTIME" 'BEGIN {print b - a}')
    printf '%s\n' "$out" >"$TMP/wrk/$round-$server-$phase.txt"
    [[ $round != warmup ]] || return 0
    local requests dur_us errors status p50 p99 max
    read -r requests dur_us errors status p50 p99 max < <(sed -n 's/^SUMMARY requests=\([0-9]*\) duration_us=\([0-9]*\) errors=\([0-9]*\) status_errors=\([0-9]*\) p50_us=\([0-9]*\) p99_us=\([0-9]*\) max_us=\([0-9]*\)$/\1 \2 \3 \4 \5 \6 \7/p' <<<"$out")
    [[ -n ${requests:-} ]] || die "no wrk summary for $server: $out"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$server" "$phase" "$requests" "$dur_us" \
        "$errors" "$status" "$p50" "$p99" "$max" \
        "$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v d="$dur_us" 'BEGIN {printf "%.2f", t / hz / (d / 1e6)}')" \
        "$load" \
        "$(awk -v b=$busy0 -v t=$((after - before)) -v hz="$CLK_TCK" -v w="$wall" 'BEGIN {o = (b - t) / hz / w; printf "%.2f", o < 0 ? 0 : o}')" \
        "$(awk -v b=$busy1 -v hz="$CLK_TCK" -v w="$wall" 'BEGIN {printf "%.2f", b / hz / w}')" >>"$TMP/runs.tsv"
    log "round $round $(printf '%-7s %-8s' "$server" "$phase") $(awk -v r="$requests" -v d="$dur_us" 'BEGIN {printf "%.0f", r / (d / 1e6)}') req/s," \
        "p50 ${p50} us, p99 ${p99} us, max ${max} us, errors $((errors + status)), load $load"
}

# Puts big.bin as /uploads/big-TAG-N.bin (N = 1, 2, ...) back to back until the file STOP exists; one line
# "TAG N time_total http_code size_upload" per upload in uploads.tsv. Runs pinned to CLIENT_CPU.
upload_loop() {
    local server=$1 tag=$2 stop=$3 n=0 r
    taskset -p -c "$CLIENT_CPU" "$BASHPID" >/dev/null
    while [[ ! -e $stop ]]; do
        n=$((n + 1))
        r=$(curl -sS -o /dev/null --max-time 600 -T "$TMP/big.bin" -H "@$TMP/auth.header" \
            -w '%{time_total} %{http_code} %{size_upload}' \
            "http://127.0.0.1:${PORT[$server]}/uploads/big-$tag-$n.bin" 2>>"$TMP/$server/curl.err") ||
            r="${r:-0 000 0}"
        printf '%s\t%s\t%s\t%s\n' "$server" "$tag" "$n" "${r// /$'\t'}" >>"$TMP/uploads.tsv"
    done
}

# The stored file of the last upload of TAG: its size and sha256 against big.bin.
check_stored() {
    local server=$1 tag=$2 last f
    last=$(awk -F'\t' -v s="$server" -v t="$tag" '$1 == s && $2 == t && ($5 == 201 || $5 == 204) {n = $3} END {print n}' \
        "$TMP/uploads.tsv")
    [[ -n $last ]] || { log "warning: $server $tag: no upload stored"; return 0; }
    f=${ROOT[$server]}/uploads/big-$tag-$last.bin
    [[ -e $f ]] || die "$server: upload big-$tag-$last.bin answered 201/204 but is not in ${ROOT[$server]}/uploads"
    [[ $(stat -c %s "$f") == "$BIG_BYTES" ]] || die "$server: $f is $(stat -c %s "$f") bytes, not $BIG_BYTES"
    [[ $(sha256sum "$f" | cut -d' ' -f1) == "$BIG_SHA" ]] || die "$server: $f does not have big.bin's sha256"
    printf '%s\t%s\t%s\n' "$server" "$tag" "ok" >>"$TMP/checked.tsv"
}

# Removes what a run uploaded and writes back everything dirty, so that the next run starts clean.
settle() {
    local server=$1
    rm -f "${ROOT[$server]}"/uploads/big-*.bin
    sync -f "$TMP/big.bin"
}

# One round of SERVER: the baseline, then the same wrk run while uploads run back to back.
measure() {
    local round=$1 server=$2 stop=$TMP/stop-$2-$1 lpid
    settle "$server"
    run_wrk "$round" "$server" base "$DUR"
    upload_loop "$server" "$round" "$stop" &
    lpid=$!
    HELPERS+=("$lpid")
    sleep 0.2
    run_wrk "$round" "$server" up "$DUR"
    touch "$stop"
    wait "$lpid" || true
    HELPERS=()
    local n bad
    n=$(awk -F'\t' -v s="$server" -v t="$round" '$1 == s && $2 == t' "$TMP/uploads.tsv" | wc -l)
    bad=$(awk -F'\t' -v s="$server" -v t="$round" '$1 == s && $2 == t && $5 != 201 && $5 != 204 {printf "%s:%s ", $3, $5}' "$TMP/uploads.tsv")
    log "round $round $server: $n uploads of $UPLOAD_MIB MiB, times $(awk -F'\t' -v s="$server" -v t="$round" '$1 == s && $2 == t {printf "%s ", $4}' "$TMP/uploads.tsv")s${bad:+, not stored: $bad}"
    check_stored "$server" "$round"
    settle "$server"
}

# --- strace: syscalls per MiB, and how long the worker's writes and fsync block -----------------------------

one_upload() {
    local server=$1 name=$2
    taskset -c "$CLIENT_CPU" curl -sS -o /dev/null --max-time 600 -T "$TMP/big.bin" -H "@$TMP/auth.header" \
        -w '%{time_total} %{http_code}' "http://127.0.0.1:${PORT[$server]}/uploads/$name" 2>>"$TMP/$server/curl.err" ||
        true
}

trace_server() {
    local server=$1 r wpid out
    settle "$server"
    # 1. strace -c -f on the worker during one upload and nothing else: every syscall of the upload.
    strace_attach "$TMP/strace-c-$server.log" "$(worker_pid "$server")" -- -c -f -o "$TMP/strace-c-$server.txt"
    r=$(one_upload "$server" strace-c.bin)
    strace_stop
    printf '%s\tcount\t%s\n' "$server" "$r" >>"$TMP/strace.tsv"
    log "strace -c $server: one upload ($r), $(awk '$NF == "total" {print $4}' "$TMP/strace-c-$server.txt") syscalls"
    settle "$server"
    # 2. the writes, fsync and rename of one upload timed (-T) while wrk runs, the only calls stopped
    # (--seccomp-bpf): the longest is what that call can have held the loop up; wrk's max is what clients saw.
    # Of the write family, only the calls the upload alone made (nginx answers GETs with writev: not traced).
    # epoll_wait too: the time from one return to the next call is one turn of the event loop.
    local trace=fsync,fdatasync,sync_file_range,rename,renameat,renameat2,linkat,fallocate,ftruncate name
    trace+=,epoll_wait,epoll_pwait,epoll_pwait2
    for name in write pwrite64 writev pwritev pwritev2 splice copy_file_range; do
        awk -v n="$name" '$NF == n {found = 1} END {exit !found}' "$TMP/strace-c-$server.txt" && trace+=",$name"
    done
    strace_attach "$TMP/strace-t-$server.log" "$(worker_pid "$server")" -- --seccomp-bpf -f -tt -T -y -s 0 \
        -o "$TMP/strace-t-$server.txt" -e "trace=$trace"
    wpid=$(worker_pid "$server")
    out=$TMP/wrk/strace-$server.txt
    taskset -c "$CLIENT_CPU" wrk -t1 -c "$CONNS" -d 600s --timeout 30s -s "$TMP/latency.lua" \
        "http://127.0.0.1:${PORT[$server]}/small.bin" >"$out" 2>&1 &
    local wrkpid=$!
    HELPERS+=("$wrkpid")
    sleep 1
    r=$(one_upload "$server" strace-t.bin)
    sleep 0.5
    # wrk stops on SIGINT and prints its report (done() included).
    kill -INT "$wrkpid" 2>/dev/null || true
    wait "$wrkpid" 2>/dev/null || true
    strace_stop
    printf '%s\ttimed\t%s\t%s\t%s\n' "$server" "$r" "$wpid" \
        "$(sed -n 's/^SUMMARY .*max_us=\([0-9]*\).*/\1/p' "$out")" >>"$TMP/strace.tsv"
    log "strace -T $server: one upload under wrk ($r), wrk max $(sed -n 's/^SUMMARY .*max_us=\([0-9]*\).*/\1/p' "$out") us"
    settle "$server"
}

# --- report ------------------------------------------------------------------------------------------------

report() {
    local rev
    if has staticd; then
        rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
        [[ -z $(git -C "$REPO" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]] || rev+="+changes"
    fi
    {
        echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
        echo "load_start=$LOAD_START"
        echo "nginx=$(nginx -v 2>&1 | sed 's/.*: //' || true)"
        echo "wrk=$(wrk -v 2>&1 | awk 'NR == 1 {print $2}' || true)"
        echo "curl=$(curl -V | awk 'NR == 1 {print $2}')"
        echo "rev=${rev:--}"
        echo "rounds=$ROUNDS"
        echo "dur=$DUR"
        echo "conns=$CONNS"
        echo "small=$SMALL_BYTES"
        echo "upload_mib=$UPLOAD_MIB"
        echo "fs=$FS_NOTE"
        echo "smoke=$SMOKE"
        echo "cpus=$(nproc)"
        echo "others=$OTHERS_NOTE"
        echo "failed=$(IFS=';'; echo "${FAILED[*]}")"
    } >"$TMP/meta.env"
    python3 - "$TMP" <<'EOF'
import os, re, statistics, sys
from collections import defaultdict

tmp = sys.argv[1]
def tsv(name):
    p = os.path.join(tmp, name)
    return [l.rstrip("\n").split("\t") for l in open(p)] if os.path.exists(p) else []
meta = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(tmp, "meta.env")))
def table(header, rows):
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
                     + ["| " + " | ".join(r) + " |" for r in rows])
def human(n):
    return f"{n / 1000:.0f}k" if n >= 100_000 else f"{n / 1000:.1f}k" if n >= 10_000 else f"{n:.0f}"
def ms(us):
    return f"{us / 1000:.2f}" if us < 10_000 else f"{us / 1000:.1f}"
med = statistics.median
mib = int(meta["upload_mib"])
size = mib * 1024 * 1024

out = ["## Uploads beside keep-alive GETs: `benches/upload.sh`", ""]
out.append(f"- {meta['date']}, staticd {meta['rev']}, {meta['nginx']}, wrk {meta['wrk']}, curl {meta['curl']}, "
           f"{meta['cpus']} CPUs; load average at the start {meta['load_start']}, at the end {meta['load']}"
           + (" (SMOKE run)" if meta["smoke"] == "1" else ""))
out.append(f"- every server one worker pinned to CPU 0; `wrk -t1 -c{meta['conns']}` keep-alive GETs of a "
           f"{int(meta['small'])} B file and the `curl -T` upload loop both pinned to CPU 1; {meta['rounds']} "
           f"alternating rounds of {meta['dur']} s baseline + {meta['dur']} s during back-to-back PUTs of a "
           f"{mib} MiB random file; medians over rounds")
out.append(f"- filesystem of the roots, nginx's client_body_temp_path and the upload source: {meta['fs']}")
out.append(f"- not measured: {meta['others']}")
if meta["failed"]:
    out.append(f"- **left out**: {meta['failed']}")
out.append("")

runs = defaultdict(lambda: defaultdict(list))
loads = defaultdict(list)
errs = defaultdict(int)
for rnd, server, phase, req, dur_us, e, st, p50, p99, mx, cpu, load, other0, busy1 in tsv("runs.tsv"):
    runs[server][phase].append(dict(rps=int(req) / (int(dur_us) / 1e6), p50=int(p50), p99=int(p99),
                                    max=int(mx), cpu=float(cpu), other0=float(other0), busy1=float(busy1)))
    loads[server].append(load)
    errs[server] += int(e) + int(st)
ups = defaultdict(list)
for server, tag, n, t, code, sent in tsv("uploads.tsv"):
    ups[server].append((float(t), code, int(float(sent))))
servers = [s for s in ("staticd", "nginx") if s in runs]
vals = {}
rows = []
for s in servers:
    b, u = runs[s]["base"], runs[s]["up"]
    ok = [t for t, code, sent in ups[s] if code in ("201", "204")]
    v = dict(base=med(r["rps"] for r in b), up=med(r["rps"] for r in u),
             p50b=med(r["p50"] for r in b), p50u=med(r["p50"] for r in u),
             p99b=med(r["p99"] for r in b), p99u=med(r["p99"] for r in u),
             maxb=med(r["max"] for r in b), maxu=med(r["max"] for r in u),
             mbs=med(size / 1e6 / t for t in ok) if ok else 0.0,
             cpub=med(r["cpu"] for r in b), cpuu=med(r["cpu"] for r in u),
             c1b=med(r["busy1"] for r in b), c1u=med(r["busy1"] for r in u))
    vals[s] = v
    rows.append([s, human(v["base"]), f"{human(v['up'])} ({100 * v['up'] / v['base']:.0f}%)",
                 ms(v["p50b"]), ms(v["p50u"]), ms(v["p99b"]), ms(v["p99u"]), ms(v["maxb"]), ms(v["maxu"]),
                 f"{v['mbs']:.0f}" if ok else "-",
                 f"{len(ok)}/{len(ups[s])}" + (f" ({min(ok):.2f}-{max(ok):.2f} s)" if ok else ""),
                 f"{100 * v['cpub']:.0f}% / {100 * v['cpuu']:.0f}%",
                 f"{100 * v['c1b']:.0f}% / {100 * v['c1u']:.0f}%", str(errs[s])])
if "staticd" in vals and "nginx" in vals:
    a, b = vals["staticd"], vals["nginx"]
    r = lambda k: f"{a[k] / b[k]:.2f}" if b[k] else "-"
    rows.append(["staticd / nginx", r("base"), r("up"), r("p50b"), r("p50u"), r("p99b"), r("p99u"), r("maxb"),
                 r("maxu"), r("mbs"), "", "", "", ""])
out.append(table(["server", "baseline req/s", "req/s during uploads", "p50 baseline (ms)", "p50 during (ms)",
                  "p99 baseline (ms)", "p99 during (ms)", "max baseline (ms)", "max during (ms)",
                  "upload MB/s (median)", "uploads stored (time range)", "server CPU base / during", "client CPU busy base / during",
                  "wrk errors"], rows))
out.append("")
out.append("Latencies are wrk's (`--latency` histogram, `done()`), medians over the rounds; MB/s is 10^6 bytes "
           "per second of one upload, curl's `time_total` (request sent to response received, so the server's "
           "fsync and rename included), median over every upload of every round. Uploads run back to back for "
           "the whole wrk run (the last one finishes after it). Every upload was checked for 201/204, and the "
           "last of each run for its size and sha256 on disk. nginx stores a PUT without fsync (its dav module "
           "renames the temp file; durability is left to the kernel's writeback), staticd fsyncs before the "
           "rename; between runs the uploads are removed and `sync` writes back what is dirty.")
out.append("")
per = "; ".join(f"{s}: " + " ".join(f"{r['rps'] / 1000:.1f}k/{u['rps'] / 1000:.1f}k"
                                      for r, u in zip(runs[s]["base"], runs[s]["up"])) for s in servers)
out.append(f"Per round (baseline/during req/s): {per}. Load average (1 min) before each run: "
           + "; ".join(f"{s} {' '.join(loads[s])}" for s in servers) + ". Share of CPU 0 busy with anything "
           "but the server, per run: " + "; ".join(f"{s} " + " ".join(f"{100 * r['other0']:.0f}%/{100 * u['other0']:.0f}%"
           for r, u in zip(runs[s]["base"], runs[s]["up"])) for s in servers) + ".")
out.append("")
out.append("The server CPU column is the server's share of CPU 0; the client CPU column how busy CPU 1 was "
           "(wrk, and during uploads curl and the loopback sends too). A server well under 100% was not the "
           "bottleneck: the GETs then wait for CPU 1, which wrk shares with the upload, and req/s during uploads "
           "says how much the client side lost as much as what the server did.")
out.append("")

st = tsv("strace.tsv")
if st:
    out.append(f"### strace on the worker, one {mib} MiB upload each")
    out.append("")
    rows = []
    timed = {}
    counts = {}
    for row in st:
        if row[1] == "count":
            counts[row[0]] = row[2]
        else:
            timed[row[0]] = row[2:]
    for s in servers:
        if s not in counts and s not in timed:
            continue
        calls = {}
        p = os.path.join(tmp, f"strace-c-{s}.txt")
        for line in open(p) if os.path.exists(p) else []:
            f = line.split()
            if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
                calls[f[-1]] = int(f[3])
        total = sum(calls.values())
        top = sorted(calls.items(), key=lambda kv: -kv[1])[:6]
        # The timed pass, -f -tt -T -y: "TID HH:MM:SS.us name(FD<path>, ...) = ret <secs>", a call another
        # thread interrupted split in "... <unfinished ...>" and "<... name resumed> ... <secs>".
        longest = defaultdict(lambda: (0.0, ""))
        n_calls = defaultdict(int)
        wpid = timed[s][1] if s in timed else ""
        p = os.path.join(tmp, f"strace-t-{s}.txt")
        start = re.compile(r"^(\d+)\s+\S+\s+(\w+)\((?:(\d+)<([^>]*)>)?")
        resumed = re.compile(r"^(\d+)\s+\S+\s+<\.\.\. (\w+) resumed>")
        pending = {}
        on_loop = {True: 0, False: 0}
        blocked = 0.0
        # The loop's turns: from an epoll_wait's return to the next epoll_wait, what the loop did in between.
        turn_end = None
        turn = dict(writes=0, bytes=0, syncs=[])
        worst = (0.0, turn)
        turn_writes = []
        def clock(ts):
            h, m_, sec = ts.split(":")
            return int(h) * 3600 + int(m_) * 60 + float(sec)
        for line in open(p) if os.path.exists(p) else []:
            line = line.rstrip()
            m = resumed.match(line)
            if m:
                tid, name = m.group(1), m.group(2)
                fdpath, t0 = pending.pop(tid, ("", None))
            else:
                m = start.match(line)
                if not m:
                    continue
                tid, name, fdpath = m.group(1), m.group(2), m.group(4) or ""
                t0 = clock(line.split()[1])
                if line.endswith("<unfinished ...>"):
                    pending[tid] = (fdpath, t0)
                    continue
            d = re.search(r"<([\d.]+)>$", line)
            if not d:
                continue
            secs = float(d.group(1))
            if name.startswith("epoll_"):
                if tid == wpid and t0 is not None:
                    if turn_end is not None and t0 - turn_end > worst[0]:
                        worst = (t0 - turn_end, turn)
                    if turn["writes"]:
                        turn_writes.append(turn["bytes"])
                    turn_end = t0 + secs
                    turn = dict(writes=0, bytes=0, syncs=[])
                continue
            if tid == wpid:
                if name in ("fsync", "fdatasync", "sync_file_range"):
                    turn["syncs"].append(f"{name} {secs * 1000:.1f} ms")
                elif fdpath.startswith("/") and not name.startswith("rename"):
                    r = re.search(r"= (\d+) <", line)
                    turn["writes"] += 1
                    turn["bytes"] += int(r.group(1)) if r else 0
            if name in ("fsync", "fdatasync"):
                key = "fsync"
            elif name == "sync_file_range":
                key = "sync_file_range"
            elif name.startswith("rename") or name == "linkat":
                key = "rename"
            elif fdpath.startswith("/"):
                key = "write"   # a file: socket, pipe and eventfd writes (responses) are not counted
            else:
                continue
            n_calls[key] += 1
            on_loop[tid == wpid] += 1
            if tid == wpid:
                blocked += secs
            if secs > longest[key][0]:
                longest[key] = (secs, name + ("" if tid == wpid else f" (thread {tid}, not the loop)"))
        def fmt(k):
            if not n_calls[k]:
                return "none"
            sec, what = longest[k]
            return f"{sec * 1000:.2f} ms, {what} ({n_calls[k]} calls)"
        t = timed.get(s)
        wrkmax = f"{int(t[2]) / 1000:.1f}" if t and len(t) > 2 and t[2] else "-"
        up = t[0].split() if t else []
        rows.append([s, f"{total / mib:.1f}" if total else "-",
                     ", ".join(f"{k} {v / mib:.1f}" for k, v in top) if total else "-",
                     fmt("write"), fmt("sync_file_range"), fmt("fsync"), fmt("rename"),
                     (f"all {on_loop[True]}" if not on_loop[False] else f"{on_loop[True]} of {on_loop[True] + on_loop[False]}")
                     + f", {blocked * 1000:.0f} ms in all",
                     (f"{worst[0] * 1000:.1f} ms: {worst[1]['writes']} file writes ({worst[1]['bytes'] / 1048576:.2f} MiB)"
                      + "".join(f", {x}" for x in worst[1]["syncs"])) if worst[0] else "-",
                     (f"{len(turn_writes)} turns, median {med(turn_writes) / 1024:.0f} KiB, "
                      f"most {max(turn_writes) / 1048576:.2f} MiB") if turn_writes else "-",
                     wrkmax,
                     f"{size / 1e6 / float(up[0]):.0f} MB/s ({up[1]})" if len(up) == 2 and float(up[0]) else "-"])
    out.append(table(["server", "syscalls / MiB (strace -c -f)", "largest (calls / MiB)",
                      "longest file write", "longest sync_file_range", "longest fsync (file or directory)",
                      "longest rename", "of these on the loop thread, time blocked",
                      "longest loop turn (epoll_wait to epoll_wait) and its file calls",
                      "turns that wrote: upload bytes written per turn", "wrk max during it (ms)",
                      "that upload (strace -T)"], rows))
    out.append("")
    out.append("The first column counts every syscall of the worker during one upload and nothing else. The "
               "longest-call columns come from a second upload with wrk running, `strace --seccomp-bpf -f -T` "
               "stopping only the file writes, sync_file_range, fsync and rename: a call on the worker's main thread "
               "blocks the event loop for its whole duration, so the longest is the largest stall that call "
               "can explain. epoll_wait is traced too: the longest time from one epoll_wait's return to the "
               "next call is the longest turn of the loop (a request that arrives during it waits for its end), with "
               "the file writes and syncs it made, and the next column how much of the upload one turn wrote "
               "(a count, which strace does not change much); wrk's max says what the GETs saw. strace stops the worker "
               "at every traced call, so all of these are longer than without it (compare the upload's MB/s).")
    out.append("")
print("\n".join(out))
EOF
}

# True when SERVERS names SERVER.
has() { [[ " $SERVERS " == *" $1 "* ]]; }

main() {
    local server
    for server in $SERVERS; do
        [[ $server == staticd || $server == nginx ]] || die "unknown server '$server' (staticd, nginx)"
    done
    install_missing
    check_others
    ! has staticd || build_staticd
    mkdir -p "$BENCH_DIR"
    TMP=$(mktemp -d "$BENCH_DIR/staticd-upload.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    for server in $SERVERS; do
        mkdir -p "$TMP/$server"
    done
    taskset -c "$SERVER_CPU" true 2>/dev/null || die "cannot pin to SERVER_CPU=$SERVER_CPU"
    taskset -c "$CLIENT_CPU" true 2>/dev/null || die "cannot pin to CLIENT_CPU=$CLIENT_CPU"
    write_fixtures
    LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
    log "temp dir $TMP on $FS_NOTE; upload $UPLOAD_MIB MiB; load average $LOAD_START"
    for server in $SERVERS; do
        start "$server" && ACTIVE+=("$server") || true
    done
    ((${#ACTIVE[@]})) || die "no server stores a PUT: ${FAILED[*]}"
    for server in "${ACTIVE[@]}"; do
        run_wrk warmup "$server" base 1
    done
    local n=${#ACTIVE[@]} round i
    for ((round = 1; round <= ROUNDS; round++)); do
        for ((i = 0; i < n; i++)); do
            measure "$round" "${ACTIVE[(i + round - 1) % n]}"
        done
    done
    if [[ $SKIP_STRACE != 1 ]]; then
        for server in "${ACTIVE[@]}"; do
            trace_server "$server"
        done
    fi
    for server in "${ACTIVE[@]}"; do
        stop_server "$server"
    done
    report >"$TMP/results.md"
    echo
    cat "$TMP/results.md"
    if [[ -n $RESULTS ]]; then
        [[ ! -s $RESULTS || -z $(tail -n 1 "$RESULTS") ]] || echo >>"$RESULTS"
        cat "$TMP/results.md" >>"$RESULTS"
        log "tables appended to $RESULTS"
    fi
    if ((${#FAILED[@]})); then
        log "error: left out: ${FAILED[*]}"
        exit 1
    fi
}

main "$@"
