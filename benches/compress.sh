#!/usr/bin/env bash
# Compression benchmark (issue 14): staticd's compressed-file cache against nginx's dynamic `gzip on` and its
# `gzip_static on` with a prebuilt .gz, on a real JavaScript bundle; bytes on the wire for the www/ site; and
# the time to first byte of the first request for a 5 MiB text file, which must not wait for compression.
#
# Why it exists: staticd compresses each file version once, in a niced background process, and then serves the
# cached br/zstd/gzip forms like any file (sendfile). The claim to check is that this costs about what serving
# a precompressed file costs (nginx gzip_static), is several times faster than compressing per response
# (nginx gzip on), sends fewer bytes (br -q11 against gzip), and never delays a response.
#
# Run from anywhere:  benches/compress.sh           (full run; appends its tables to benches/results.md)
#                     SMOKE=1 benches/compress.sh   (1 round x 1 s, no strace, nothing written)
# Knobs (environment): see benches/README.md, section "Compression benchmark".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"

SMOKE=${SMOKE:-0}
if [[ $SMOKE == 1 ]]; then
    ROUNDS=${ROUNDS:-1}
    TTFB_ROUNDS=${TTFB_ROUNDS:-1}
    DURATION=${DURATION:-1}
    SKIP_STRACE=${SKIP_STRACE:-1}
    RESULTS=${RESULTS-}
else
    ROUNDS=${ROUNDS:-3}
    # TTFB is a few ms, and one sample per fresh server: more rounds than the load part for a steadier median.
    TTFB_ROUNDS=${TTFB_ROUNDS:-7}
    DURATION=${DURATION:-5}
    SKIP_STRACE=${SKIP_STRACE:-0}
    RESULTS=${RESULTS-$HERE/results.md}
fi
PARTS=${PARTS:-load site ttfb}
SERVERS=${SERVERS:-staticd nginx_gzip nginx_static}
CONNS=${CONNS:-64}
AE=${AE:-gzip, deflate, br, zstd}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
STATICD_BIN=${STATICD_BIN:-}
KEEP_TMP=${KEEP_TMP:-0}
# The bundle: BUNDLE (a file) if given, else BUNDLE_FILE out of `npm pack BUNDLE_PKG`, kept in BUNDLE_CACHE.
BUNDLE=${BUNDLE:-}
BUNDLE_PKG=${BUNDLE_PKG:-jquery@3.7.1}
BUNDLE_FILE=${BUNDLE_FILE:-package/dist/jquery.min.js}
BUNDLE_CACHE=${BUNDLE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/staticd-bench}
# The site of part "site" (every file requested once), and how long staticd may take to compress it.
SITE=${SITE:-$REPO/www}
SITE_WAIT=${SITE_WAIT:-30}
# Part "ttfb": a BIG_MIB MiB text file of random words; at most COMPRESS_WAIT s for its compressed form.
BIG_MIB=${BIG_MIB:-5}
COMPRESS_WAIT=${COMPRESS_WAIT:-120}
STRACE_DURATION=${STRACE_DURATION:-5}

CLK_TCK=$(getconf CLK_TCK)
declare -A PID=() PORT=()
declare -a HELPERS=()
TMP=""
BUNDLE_NOTE=""

LOG_TAG=compress
# shellcheck source=benches/lib.sh
source "$HERE/lib.sh"

# --- setup -------------------------------------------------------------------------------------------------

install_missing() {
    local -a want=(wrk=wrk curl=curl python3=python3 taskset=util-linux gzip=gzip)
    [[ " $SERVERS " != *" nginx_"* ]] || want+=(nginx=nginx-light)
    [[ $SKIP_STRACE == 1 ]] || want+=(strace=strace)
    install_commands "${want[@]}"
    if [[ " $SERVERS " == *" nginx_static "* ]] && ! nginx -V 2>&1 | grep -q -- --with-http_gzip_static_module; then
        die "this nginx has no gzip_static module (nginx -V); install the nginx package (Debian's nginx-light has it)"
    fi
}


# Sets BUNDLE to a real minified bundle: BUNDLE_FILE of the npm package BUNDLE_PKG, fetched once into
# BUNDLE_CACHE. Without npm or network: a synthetic JS-like file, said so in the table (BUNDLE_NOTE).
get_bundle() {
    if [[ -n $BUNDLE ]]; then
        [[ -r $BUNDLE ]] || die "BUNDLE=$BUNDLE is not readable"
        BUNDLE_NOTE="$(basename "$BUNDLE") (given)"
        return
    fi
    local dir=$BUNDLE_CACHE/${BUNDLE_PKG//[^A-Za-z0-9.@_-]/_}
    if [[ ! -r $dir/$BUNDLE_FILE ]]; then
        mkdir -p "$dir"
        log "fetching $BUNDLE_PKG from the npm registry"
        local tgz
        if command -v npm >/dev/null && tgz=$(cd "$dir" && timeout 120 npm pack --silent "$BUNDLE_PKG" 2>/dev/null) &&
            tar -xzf "$dir/$tgz" -C "$dir" "$BUNDLE_FILE" 2>/dev/null; then
            :
        else
            log "warning: npm pack $BUNDLE_PKG failed: using a synthetic JavaScript-like file"
            mkdir -p "$TMP/synthetic"
            python3 - "$TMP/synthetic/bundle.min.js" <<'EOF'
import random, sys
rng = random.Random(14)
words = ["function", "return", "var", "this", "prototype", "length", "undefined", "null", "typeof",
         "if", "else", "for", "while", "new", "Object", "Array", "call", "apply", "push", "indexOf"]
ids = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 8))) for _ in range(900)]
out = []
size = 0
while size < 100 * 1024:
    a, b, c = rng.choice(ids), rng.choice(ids), rng.choice(ids)
    stmt = rng.choice([
        f"function {a}({b},{c}){{return {b}.{rng.choice(words)}({c})}}",
        f"var {a}={b}&&{b}.{c}||{rng.randint(0, 9999)};",
        f"if({a}.length>{rng.randint(0, 99)}){{{b}.push({c})}}else{{{b}=\"{rng.choice(ids)}\"}}",
        f"{a}.prototype.{b}=function({c}){{this.{c}={c};return this}};",
    ])
    out.append(stmt)
    size += len(stmt)
open(sys.argv[1], "w").write("".join(out))
EOF
            BUNDLE=$TMP/synthetic/bundle.min.js
            BUNDLE_NOTE="synthetic JS-like file (npm pack $BUNDLE_PKG failed)"
            return
        fi
    fi
    BUNDLE=$dir/$BUNDLE_FILE
    BUNDLE_NOTE="\`$(basename "$BUNDLE")\` from npm \`$BUNDLE_PKG\`"
}

write_fixtures() {
    local name
    name=$(basename "$BUNDLE")
    JS_PATH=/js/$name
    # staticd and nginx gzip on serve www/ (no .gz beside the bundle: staticd would serve the site's own .gz);
    # nginx gzip_static serves www-gz/, the same bundle with a `gzip -9 -k` sibling.
    mkdir -p "$TMP/www/js" "$TMP/www-gz/js" "$TMP/big"
    cp "$BUNDLE" "$TMP/www/js/$name"
    cp "$BUNDLE" "$TMP/www-gz/js/$name"
    gzip -9 -k "$TMP/www-gz/js/$name"
    printf 'ok\n' >"$TMP/www/ping.txt"
    printf 'ok\n' >"$TMP/www-gz/ping.txt"
    printf 'ok\n' >"$TMP/big/ping.txt"
    # The site of part "site", copied so that nothing staticd or nginx might write lands in the repository.
    cp -r "$SITE" "$TMP/site"
    # Part "ttfb": BIG_MIB MiB of random words (text/plain: compressible, and at 5 MiB brotli runs at 9).
    python3 - "$TMP/big/words.txt" $((BIG_MIB * 1024 * 1024)) <<'EOF'
import random, sys
rng = random.Random(14)
letters = "etaoinshrdlcumwfgypbvkjxqz"
weights = [12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4, 2.4, 2.2, 2.0, 2.0, 1.9,
           1.5, 1.0, 0.8, 0.2, 0.2, 0.1, 0.1]
# 20,000 made-up words, drawn with Zipf's law (the n-th most common word 1/n as often) like real text.
vocab = ["".join(rng.choices(letters, weights, k=rng.randint(1, 10))) for _ in range(20000)]
zipf = [1 / n for n in range(1, len(vocab) + 1)]
size = int(sys.argv[2])
out, n = [], 0
while n < size:
    line = " ".join(rng.choices(vocab, zipf, k=rng.randint(6, 14))) + ".\n"
    out.append(line)
    n += len(line)
open(sys.argv[1], "w").write("".join(out)[:size])
EOF
    # Servers started as root drop to nobody (staticd also chroots into its root): all must be readable.
    chmod -R a+rX "$TMP"
    mkdir -p "$TMP/wrk"
    cat >"$TMP/summary.lua" <<'EOF'
-- Prints wrk's exact totals (its Transfer/sec line is rounded): bytes are every byte read, headers included.
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("SUMMARY requests=%d bytes=%d duration_us=%d errors=%d status_errors=%d\n",
        summary.requests, summary.bytes, summary.duration, e.connect + e.read + e.write + e.timeout, e.status))
end
EOF
}

# --- servers -----------------------------------------------------------------------------------------------

# staticd NAME PORT ROOT CACHE_DIR [OPTION...]: one worker, pinned, with a compressed-file cache of its own.
launch_staticd_at() {
    local name=$1 port=$2 root=$3 cache=$4
    shift 4
    taskset -c "$SERVER_CPU" "$STATICD_BIN" --workers 1 --listen "127.0.0.1:$port" --access-log off \
        --compress-cache "$cache" "$@" "$root" >>"$TMP/$name.log" 2>&1 &
    PID[$name]=$!
}

# nginx NAME PORT ROOT MODE: MODE gzip (dynamic, level 1) or static (gzip_static on, the .gz beside the file).
launch_nginx_at() {
    local name=$1 port=$2 root=$3 mode=$4 dir=$TMP/$1 user_line="" gz
    mkdir -p "$dir"
    [[ $EUID != 0 ]] || user_line="user root;"
    case $mode in
        # nginx's defaults but for the types: gzip_comp_level 1, gzip_min_length 20, gzip_buffers 32 4k.
        gzip) gz="gzip on; gzip_comp_level 1; gzip_vary on;
    gzip_types application/javascript text/javascript text/css text/plain application/json image/svg+xml;" ;;
        static) gz="gzip_static on; gzip_vary on;" ;;
        *) die "unknown nginx mode $mode" ;;
    esac
    cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 4096; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;
    open_file_cache_errors on;
    $gz
    keepalive_requests 1000000;
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$port;
        root $root;
    }
}
EOF
    taskset -c "$SERVER_CPU" nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" >>"$dir/stderr.log" 2>&1 &
    PID[$name]=$!
}

# Starts NAME (staticd, nginx_gzip, nginx_static; or any name with ROOT and KIND given) and waits until it
# answers (any status) a request for /ping.txt: never a compressible file, which would start compressing it.
start() {
    local name=$1 kind=${2:-$1} root=${3:-} port i code
    port=$(free_port)
    PORT[$name]=$port
    case $kind in
        staticd)
            rm -rf "$TMP/cache-$name"
            launch_staticd_at "$name" "$port" "${root:-$TMP/www}" "$TMP/cache-$name"
            ;;
        staticd_nocompress)
            rm -rf "$TMP/cache-$name"
            launch_staticd_at "$name" "$port" "${root:-$TMP/www}" "$TMP/cache-$name" --no-compress
            ;;
        nginx_gzip) launch_nginx_at "$name" "$port" "${root:-$TMP/www}" gzip ;;
        nginx_static) launch_nginx_at "$name" "$port" "${root:-$TMP/www-gz}" static ;;
        *) die "unknown server '$kind'" ;;
    esac
    for ((i = 0; i < 100; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/ping.txt" || true)
        [[ $code == 000 ]] || break
        kill -0 "${PID[$name]}" 2>/dev/null || die "$name exited; see $TMP/$name*"
        sleep 0.1
    done
    ((i < 100)) || die "$name does not answer on 127.0.0.1:$port; see $TMP/$name*"
    local pid cpus
    while read -r pid; do
        cpus=$(awk '/^Cpus_allowed_list/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        [[ -z $cpus || $cpus == "$SERVER_CPU" ]] || log "warning: $name pid $pid runs on CPUs $cpus"
    done < <(proc_tree "${PID[$name]}")
    log "$name: pid ${PID[$name]} on 127.0.0.1:$port"
}



# Prints "CODE ENCODING HEADER_BYTES BODY_BYTES" of GET PATH from PORT with Accept-Encoding AE (none if
# empty); the body is left encoded. With OUT, the body is written there.
probe() {
    local port=$1 path=$2 ae=$3 out=${4:-/dev/null}
    local -a h=()
    [[ -z $ae ]] || h=(-H "Accept-Encoding: $ae")
    curl -s -o "$out" -D - --max-time 30 "${h[@]}" -w '%{http_code} %{size_header} %{size_download}\n' \
        "http://127.0.0.1:$port$path" 2>/dev/null | tr -d '\r' | awk '
        tolower($1) == "content-encoding:" { enc = tolower($2) }
        /^[0-9]+ [0-9]+ [0-9]+$/ { split($0, r, " ") }
        END { print (r[1] == "" ? "000" : r[1]), (enc == "" ? "identity" : enc), r[2] + 0, r[3] + 0 }' || true
}

# Writes to OUT the body of GET PATH with AE as curl decodes it (curl has gzip, br and zstd built in).
decoded() {
    curl -s --compressed -H "Accept-Encoding: $AE" --max-time 30 -o "$3" "http://127.0.0.1:$1$2"
}

# Asks PORT for PATH with AE (HEAD: no body to send while the compressor works) until it answers with
# Content-Encoding WANT (any: any but identity); prints the seconds it took.
wait_encoding() {
    local port=$1 path=$2 want=$3 limit=$4 start now enc
    start=$EPOCHREALTIME
    while :; do
        enc=$(curl -s -I --max-time 10 -H "Accept-Encoding: $AE" "http://127.0.0.1:$port$path" 2>/dev/null |
            tr -d '\r' | awk 'tolower($1) == "content-encoding:" { e = tolower($2) } END { print e == "" ? "identity" : e }')
        now=$EPOCHREALTIME
        [[ $enc != "$want" && ($want != any || $enc == identity) ]] || break
        if awk -v a="$start" -v b="$now" -v l="$limit" 'BEGIN {exit !(b - a > l)}'; then
            echo "timeout"
            return 1
        fi
        sleep 0.05
    done
    awk -v a="$start" -v b="$now" 'BEGIN {printf "%.2f\n", b - a}'
}

# --- part 1: the bundle under load -------------------------------------------------------------------------

run_wrk() {
    local round=$1 server=$2 port=${PORT[$2]} dur=${3:-$DURATION} before after out busy0 busy1 wall
    before=$(tree_ticks "${PID[$server]}")
    wall=$EPOCHREALTIME
    busy0=$(cpu_busy "$SERVER_CPU")
    busy1=$(cpu_busy "$CLIENT_CPU")
    out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c "$CONNS" -d "${dur}s" --timeout 10s -H "Accept-Encoding: $AE" \
        -s "$TMP/summary.lua" "http://127.0.0.1:$port$JS_PATH" 2>&1) || log "warning: wrk failed for $server"
    busy0=$(($(cpu_busy "$SERVER_CPU") - busy0))
    busy1=$(($(cpu_busy "$CLIENT_CPU") - busy1))
    wall=$(awk -v a="$wall" -v b="$EPOCHREALTIME" 'BEGIN {print b - a}')
    after=$(tree_ticks "${PID[$server]}")
    printf '%s\n' "$out" >"$TMP/wrk/$round-$server.txt"
    [[ $round == warmup ]] && return 0
    local requests bytes dur_us errors status rps
    read -r requests bytes dur_us errors status < <(sed -n 's/^SUMMARY requests=\([0-9]*\) bytes=\([0-9]*\) duration_us=\([0-9]*\) errors=\([0-9]*\) status_errors=\([0-9]*\)$/\1 \2 \3 \4 \5/p' <<<"$out")
    [[ -n ${requests:-} ]] || die "no wrk summary for $server: $out"
    rps=$(awk -v r="$requests" -v d="$dur_us" 'BEGIN {printf "%.0f", r / (d / 1e6)}')
    # The server CPU's busy time that was not the server's (other processes, interrupts), as a share of the run.
    local other0
    other0=$(awk -v b=$busy0 -v t=$((after - before)) -v hz="$CLK_TCK" -v w="$wall" \
        'BEGIN {o = (b - t) / hz / w; printf "%.2f", o < 0 ? 0 : o}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$server" "$requests" "$bytes" "$dur_us" \
        "$(awk -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}')" "$errors" "$status" \
        "$other0" "$(awk -v b=$busy1 -v hz="$CLK_TCK" -v w="$wall" 'BEGIN {printf "%.2f", b / hz / w}')" \
        >>"$TMP/runs.tsv"
    log "round $round  $(printf '%-13s' "$server") $rps req/s  $((bytes / (requests ? requests : 1))) B/response" \
        " CPU $SERVER_CPU not the server's: $(awk -v o="$other0" 'BEGIN {printf "%.0f", 100 * o}')%"
}

# Counts syscalls of every process of SERVER while wrk runs STRACE_DURATION s; wrk's request count divides.
count_syscalls() {
    local server=$1 out=$TMP/strace-$1.txt wout requests
    local -a pids
    mapfile -t pids < <(proc_tree "${PID[$server]}")
    strace_attach "$TMP/strace-$server.log" "${pids[@]}" -- -c -f -o "$out"
    wout=$(taskset -c "$CLIENT_CPU" wrk -t1 -c "$CONNS" -d "${STRACE_DURATION}s" --timeout 10s \
        -H "Accept-Encoding: $AE" -s "$TMP/summary.lua" "http://127.0.0.1:${PORT[$server]}$JS_PATH" 2>&1) || true
    strace_stop
    requests=$(sed -n 's/^SUMMARY requests=\([0-9]*\).*/\1/p' <<<"$wout")
    printf '%s\t%s\n' "$server" "${requests:-0}" >>"$TMP/syscalls.tsv"
    log "strace $server: ${requests:-0} requests, $(awk '$NF == "total" {print $4}' "$out" 2>/dev/null) syscalls"
}

part_load() {
    local server i n round
    local -a active=()
    for server in $SERVERS; do
        start "$server"
        active+=("$server")
    done
    # staticd compresses the bundle once, in the background, after the first request that could use it.
    if [[ -n ${PORT[staticd]:-} ]]; then
        local took
        took=$(wait_encoding "${PORT[staticd]}" "$JS_PATH" any 60) || die "staticd never compressed $JS_PATH"
        log "staticd: $JS_PATH answered compressed after ${took}s"
    fi
    # What each server sends for the bundle, checked against the file.
    local code enc hdr body
    for server in "${active[@]}"; do
        read -r code enc hdr body <<<"$(probe "${PORT[$server]}" "$JS_PATH" "$AE" "$TMP/body-$server")"
        [[ $code == 200 ]] || die "$server: GET $JS_PATH gave $code"
        case $server in
            staticd) [[ $enc != identity ]] || die "staticd answered identity" ;;
            nginx_*) [[ $enc == gzip ]] || die "$server answered $enc, not gzip" ;;
        esac
        [[ $server != nginx_static || $body == "$(stat -c %s "$TMP/www-gz$JS_PATH.gz")" ]] ||
            die "nginx_static sent $body bytes, not the .gz file's $(stat -c %s "$TMP/www-gz$JS_PATH.gz")"
        decoded "${PORT[$server]}" "$JS_PATH" "$TMP/decoded-$server" || true
        if cmp -s "$TMP/decoded-$server" "$BUNDLE"; then
            printf '%s\t%s\t%s\t%s\n' "$server" "$enc" "$hdr" "$body" >>"$TMP/encodings.tsv"
        else
            die "$server: the $enc body of $JS_PATH does not decode to the bundle"
        fi
        log "$server: $JS_PATH as $enc, $body body bytes + $hdr header bytes"
    done
    log "warm-up: 1 s per server"
    for server in "${active[@]}"; do
        run_wrk warmup "$server" 1
    done
    n=${#active[@]}
    for ((round = 1; round <= ROUNDS; round++)); do
        for ((i = 0; i < n; i++)); do
            run_wrk "$round" "${active[(i + round - 1) % n]}"
        done
    done
    if [[ $SKIP_STRACE != 1 ]]; then
        for server in "${active[@]}"; do
            count_syscalls "$server"
        done
    fi
    for server in "${active[@]}"; do
        stop_server "$server"
    done
}

# --- part 2: the www/ site as a browser loads it -----------------------------------------------------------

part_site() {
    local -a args=()
    if has staticd; then
        start site_staticd staticd "$TMP/site"
        args+=("staticd=${PORT[site_staticd]}:poll")
    fi
    if has nginx_gzip; then
        start site_nginx_gzip nginx_gzip "$TMP/site"
        args+=("nginx_gzip=${PORT[site_nginx_gzip]}")
    fi
    BYTES_TSV=$TMP/site.tsv python3 "$HERE/browser_bytes.py" "$TMP/site" "$AE" "$SITE_WAIT" "${args[@]}" \
        >"$TMP/site.md" 2> >(tee "$TMP/site.log" >&2)
    stop_server site_staticd
    stop_server site_nginx_gzip
}

# --- part 3: time to first byte of the first request for a big file ----------------------------------------

# Prints "CODE ENCODING TTFB TOTAL BYTES" for GET PATH with AE (none if empty).
timed_get() {
    local port=$1 path=$2 ae=$3
    local -a h=()
    [[ -z $ae ]] || h=(-H "Accept-Encoding: $ae")
    curl -s -o /dev/null -D - --max-time 120 "${h[@]}" \
        -w '%{http_code} %{time_starttransfer} %{time_total} %{size_download}\n' \
        "http://127.0.0.1:$port$path" 2>/dev/null | tr -d '\r' | awk '
        tolower($1) == "content-encoding:" { enc = tolower($2) }
        /^[0-9]+ [0-9.]+ [0-9.]+ [0-9]+$/ { split($0, r, " ") }
        END { print r[1], (enc == "" ? "identity" : enc), r[2], r[3], r[4] }'
}

part_ttfb() {
    local round path=/words.txt t0 r1 r2 r3 took
    for ((round = 1; round <= TTFB_ROUNDS; round++)); do
        if has staticd; then
            # A fresh server with an empty cache every round: the first request is the first it ever sees.
            start ttfb_staticd staticd "$TMP/big"
            t0=$EPOCHREALTIME
            r1=$(timed_get "${PORT[ttfb_staticd]}" "$path" "$AE")
            r2=$(timed_get "${PORT[ttfb_staticd]}" "$path" "")
            took=$(wait_encoding "${PORT[ttfb_staticd]}" "$path" any "$COMPRESS_WAIT") || took=timeout
            [[ $took == timeout ]] || took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.2f", b - a}')
            r3=$(timed_get "${PORT[ttfb_staticd]}" "$path" "$AE")
            printf '%s staticd %s %s %s %s\n' "$round" "$r1" "$r2" "$took" "$r3" | tr ' ' '\t' >>"$TMP/ttfb.tsv"
            log "ttfb round $round: staticd first ($r1), identity ($r2), compressed after ${took}s, then ($r3)"
            stop_server ttfb_staticd
            # The control: the same two requests to a fresh staticd that never compresses (--no-compress).
            start ttfb_nocompress staticd_nocompress "$TMP/big"
            r1=$(timed_get "${PORT[ttfb_nocompress]}" "$path" "$AE")
            r2=$(timed_get "${PORT[ttfb_nocompress]}" "$path" "")
            printf '%s staticd_nocompress %s %s - %s\n' "$round" "$r1" "$r2" "$r1" | tr ' ' '\t' >>"$TMP/ttfb.tsv"
            log "ttfb round $round: staticd --no-compress first ($r1), identity ($r2)"
            stop_server ttfb_nocompress
        fi
        if has nginx_gzip; then
            # nginx gzip on, for comparison: it compresses while it sends.
            start ttfb_nginx nginx_gzip "$TMP/big"
            r1=$(timed_get "${PORT[ttfb_nginx]}" "$path" "$AE")
            r2=$(timed_get "${PORT[ttfb_nginx]}" "$path" "")
            printf '%s nginx_gzip %s %s - %s\n' "$round" "$r1" "$r2" "$r1" | tr ' ' '\t' >>"$TMP/ttfb.tsv"
            log "ttfb round $round: nginx gzip ($r1), identity ($r2)"
            stop_server ttfb_nginx
        fi
    done
}

# --- report ------------------------------------------------------------------------------------------------

report() {
    local rev
    rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
    [[ -z $(git -C "$REPO" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]] || rev+="+changes"
    {
        echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
        echo "load_start=$LOAD_START"
        echo "nginx=$(nginx -v 2>&1 | sed 's/.*: //' || true)"
        echo "wrk=$(wrk -v 2>&1 | awk 'NR == 1 {print $2}' || true)"
        echo "rev=$rev"
        echo "rounds=$ROUNDS"
        echo "duration=$DURATION"
        echo "conns=$CONNS"
        echo "ae=$AE"
        echo "bundle=$BUNDLE_NOTE"
        echo "bundle_bytes=$(stat -c %s "$BUNDLE")"
        echo "bundle_gz9=$(stat -c %s "$TMP/www-gz$JS_PATH.gz")"
        echo "big_mib=$BIG_MIB"
        echo "ttfb_rounds=$TTFB_ROUNDS"
        echo "smoke=$SMOKE"
        echo "parts=$PARTS"
    } >"$TMP/meta.env"
    python3 - "$TMP" <<'EOF'
import os, statistics, sys
from collections import defaultdict

tmp = sys.argv[1]
def tsv(name):
    p = os.path.join(tmp, name)
    return [l.rstrip("\n").split("\t") for l in open(p)] if os.path.exists(p) else []
meta = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(tmp, "meta.env")))
def human(n):
    return f"{n / 1000:.0f}k" if n >= 100_000 else f"{n / 1000:.1f}k" if n >= 10_000 else f"{n:.0f}"
def table(header, rows):
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
                     + ["| " + " | ".join(r) + " |" for r in rows])
label = {"staticd": "staticd (from its cache)", "nginx_gzip": "nginx `gzip on` (level 1)",
         "nginx_static": "nginx `gzip_static on` (`gzip -9 -k`)"}
parts = meta["parts"].split()
out = [f"## Compression (issue 14): `benches/compress.sh`", ""]
out.append(f"- {meta['date']}, staticd {meta['rev']}, {meta['nginx']}, wrk {meta['wrk']}; load average "
           f"at the start {meta['load_start']}, at the end {meta['load']}" + (" (SMOKE run)" if meta["smoke"] == "1" else ""))
out.append(f"- every server one worker pinned to CPU 0, `wrk -t1 -c{meta['conns']}` pinned to CPU 1, "
           f"{meta['rounds']} alternating rounds of {meta['duration']} s, medians; "
           f"`Accept-Encoding: {meta['ae']}` on every request")
out.append(f"- bundle: {meta['bundle']}, {int(meta['bundle_bytes']):,} bytes "
           f"({int(meta['bundle_bytes']) / 1024:.1f} KiB); `gzip -9 -k`: {int(meta['bundle_gz9']):,} bytes")
out.append("")

if "load" in parts:
    runs = defaultdict(list)
    cpu = defaultdict(float)
    reqs = defaultdict(int)
    errs = defaultdict(int)
    others = defaultdict(list)
    for rnd, server, requests, nbytes, dur_us, cpu_s, e, st, other0, busy1 in tsv("runs.tsv"):
        requests, nbytes, dur_us = int(requests), int(nbytes), int(dur_us)
        others[server].append((float(other0), float(busy1)))
        runs[server].append((requests / (dur_us / 1e6), nbytes / max(requests, 1), nbytes / (dur_us / 1e6)))
        cpu[server] += float(cpu_s)
        reqs[server] += requests
        errs[server] += int(e) + int(st)
    enc = {r[0]: r[1:] for r in tsv("encodings.tsv")}
    servers = [s for s in ("staticd", "nginx_gzip", "nginx_static") if s in runs]
    med = {s: statistics.median(r[0] for r in runs[s]) for s in servers}
    out.append(f"### The bundle under load: `wrk -t1 -c{meta['conns']}`, keep-alive")
    out.append("")
    rows = []
    for s in servers:
        e, hdr, body = enc.get(s, ["?", "0", "0"])
        wire = statistics.median(r[1] for r in runs[s])
        xfer = statistics.median(r[2] for r in runs[s])
        ratio = f"{med['staticd'] / med[s]:.2f}" if "staticd" in med and s != "staticd" else "-"
        share = cpu[s] / (len(runs[s]) * float(meta["duration"])) if runs[s] else 0
        rows.append([label.get(s, s), human(med[s]), ratio, e, f"{int(body):,}", f"{wire:,.0f}",
                     f"{xfer / 1e6:.1f}", f"{reqs[s] / cpu[s] / 1000:.1f}k ({100 * share:.0f}% CPU)" if cpu[s] else "-",
                     " ".join(f"{100 * o:.0f}%/{100 * b:.0f}%" for o, b in others[s]), str(errs[s])])
    out.append(table(["server", "median req/s", "staticd / this", "Content-Encoding", "body bytes",
                      "wire bytes / response (wrk)", "MB/s transferred (wrk)", "req per server CPU-s",
                      "per run: server CPU busy with others / client CPU busy", "errors"], rows))
    out.append("")
    if "staticd" in med:
        goals = [("nginx_gzip", "several times (3x or more)", 3.0), ("nginx_static", "1.0x or more", 1.0)]
        said = []
        for s, goal, at_least in goals:
            if s in med:
                r = med["staticd"] / med[s]
                verdict = "met" if r >= at_least else f"missed by {100 * (1 - r / at_least):.0f}%"
                said.append(f"staticd / {label[s]}: {r:.2f} (target {goal}: {verdict})")
        out.append("Targets: " + "; ".join(said) + ".")
        out.append("")
    out.append("Wire bytes are wrk's count of every byte read (status line, headers, body) divided by its "
               "requests; MB/s is the same bytes over the run's time (10^6 bytes). The per-run column says how "
               "quiet the machine was: the share of the server's CPU spent on anything but the server (other "
               "processes, interrupts), and how busy the client's CPU was (wrk plus anything else).")
    out.append("")
    sc = tsv("syscalls.tsv")
    if sc:
        out.append(f"Syscalls per request under `strace -c -f` (every process of the server, wrk's request count "
                   f"as the denominator):")
        out.append("")
        rows = []
        for server, n in sc:
            n = int(n)
            calls = {}
            p = os.path.join(tmp, f"strace-{server}.txt")
            for line in open(p) if os.path.exists(p) else []:
                f = line.split()
                if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
                    calls[f[-1]] = int(f[3])
            total = sum(calls.values())
            top = sorted(calls.items(), key=lambda kv: -kv[1])[:7]
            rows.append([label.get(server, server), f"{total / n:.2f}" if n else "-",
                         ", ".join(f"{k} {v / n:.2f}" for k, v in top) if n else "-"])
        out.append(table(["server", "syscalls / request", "largest (calls / request)"], rows))
        out.append("")

if "site" in parts and os.path.exists(os.path.join(tmp, "site.md")):
    out.append(f"### `www/` loaded as a browser would: every file once, `Accept-Encoding: {meta['ae']}` "
               "against none (identity)")
    out.append("")
    out.append("Wire bytes: status line, headers and body of one response. staticd: after polling until each "
               "compressible file (a compressible type of at least 1 KiB) came back encoded.")
    out.append("")
    out.append(open(os.path.join(tmp, "site.md")).read().rstrip())
    out.append("")

if "ttfb" in parts:
    rows = tsv("ttfb.tsv")
    if rows:
        out.append(f"### First request of a {meta['big_mib']} MiB text file (random words), empty cache")
        out.append("")
        out.append("curl `time_starttransfer` (TTFB) and `time_total`, in ms, medians of "
                   f"{meta['ttfb_rounds']} rounds; a fresh server and cache each round; \"compressed after\" is from the start of the first request until a request is "
                   "answered with a Content-Encoding (staticd sends the smallest form the client accepts).")
        out.append("")
        def ms(v):
            return f"{float(v) * 1000:.1f}"
        by = defaultdict(list)
        for r in rows:
            by[r[1]].append(r)
        body = []
        for server, rs in by.items():
            # columns: round server | code enc ttfb total bytes (first, AE) | same (identity) | ready | same (after)
            first_enc = "/".join(sorted({r[3] for r in rs}))
            after_enc = "/".join(sorted({r[14] for r in rs}))
            med = lambda i: ms(statistics.median(float(r[i]) for r in rs))
            ready = [r[12] for r in rs]
            ready_s = "-" if server != "staticd" else (
                "timeout" if "timeout" in ready else f"{statistics.median(float(x) for x in ready):.2f} s")
            name = {"staticd": "staticd", "staticd_nocompress": "staticd `--no-compress` (control)",
                    "nginx_gzip": "nginx `gzip on`"}.get(server, server)
            body.append([name,
                         f"{med(4)} / {med(5)} ({first_enc}, {int(rs[0][6]):,} B)",
                         f"{med(9)} / {med(10)} ({int(rs[0][11]):,} B)",
                         ready_s,
                         f"{med(15)} / {med(16)} ({after_enc}, {int(rs[0][17]):,} B)" if server == "staticd" else "-"])
        out.append(table(["server", "1st request, browser AE: TTFB / total", "2nd request, identity: TTFB / total",
                          "compressed after", "once compressed, browser AE: TTFB / total"], body))
        out.append("")
        out.append("Per round: " + "; ".join(
            f"{r[1]} r{r[0]}: 1st TTFB {ms(r[4])} ms ({r[3]}), identity {ms(r[9])} ms"
            + (f", compressed after {r[12]} s, then {r[14]}" if r[1] == "staticd" else "") for r in rows))
        out.append("")
        out.append("The control is the same first request to a fresh staticd that never compresses: the "
                   "difference between its TTFB and staticd's is what handing the file to the compressor costs "
                   "the first response.")
        out.append("")
print("\n".join(out))
EOF
}

# True when SERVERS names SERVER.
has() { [[ " $SERVERS " == *" $1 "* ]]; }

main() {
    install_missing
    ! has staticd || build_staticd
    TMP=$(mktemp -d /tmp/staticd-compress.XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    get_bundle
    write_fixtures
    taskset -c "$SERVER_CPU" true 2>/dev/null || die "cannot pin to SERVER_CPU=$SERVER_CPU"
    taskset -c "$CLIENT_CPU" true 2>/dev/null || die "cannot pin to CLIENT_CPU=$CLIENT_CPU"
    LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
    log "bundle: $BUNDLE_NOTE, $(stat -c %s "$BUNDLE") bytes; load average $LOAD_START"
    local part
    for part in $PARTS; do
        "part_$part"
    done
    report >"$TMP/results.md"
    echo
    cat "$TMP/results.md"
    if [[ -n $RESULTS ]]; then
        # One blank line between the file's last table and this section.
        [[ ! -s $RESULTS || -z $(tail -n 1 "$RESULTS") ]] || echo >>"$RESULTS"
        cat "$TMP/results.md" >>"$RESULTS"
        log "tables appended to $RESULTS"
    fi
}

main "$@"
