#!/usr/bin/env bash
# Load benchmark: staticd against nginx, lighttpd and h2o, side by side on this machine.
#
# Why it exists: staticd's only reason to exist is speed, and a number means something only next to the
# fastest C servers measured in the same run, on the same fixtures, with the same CPU layout. Every server
# runs one worker with all its processes pinned to SERVER_CPU; `wrk -t1` runs pinned to CLIENT_CPU.
#
# Run from anywhere:  benches/load.sh            (full run, writes benches/results.md)
#                     SMOKE=1 benches/load.sh    (1 round x 1 s, staticd + nginx, no strace/memory)
# Knobs (environment): see benches/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"

SMOKE=${SMOKE:-0}
if [[ $SMOKE == 1 ]]; then
    ROUNDS=${ROUNDS:-1}
    DURATION=${DURATION:-1}
    SERVERS=${SERVERS:-staticd nginx}
    SKIP_STRACE=${SKIP_STRACE:-1}
    SKIP_MEMORY=${SKIP_MEMORY:-1}
    RESULTS=${RESULTS-}
else
    ROUNDS=${ROUNDS:-3}
    DURATION=${DURATION:-5}
    SERVERS=${SERVERS:-staticd nginx lighttpd h2o}
    SKIP_STRACE=${SKIP_STRACE:-0}
    SKIP_MEMORY=${SKIP_MEMORY:-0}
    RESULTS=${RESULTS-$HERE/results.md}
fi
SCENARIOS=${SCENARIOS:-ka1k close1k pipe1k ka64k big10m notfound large20k large20k_gz}
CONNS=${CONNS:-64}
BIG_CONNS=${BIG_CONNS:-8}
PIPELINE_DEPTH=${PIPELINE_DEPTH:-16}
STRACE_REQUESTS=${STRACE_REQUESTS:-20000}
IDLE_CONNS=${IDLE_CONNS:-10000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
KEEP_TMP=${KEEP_TMP:-0}
STATICD_BIN=${STATICD_BIN:-}
# A second staticd binary to measure beside this one (a before/after comparison): add `staticd_before` to SERVERS.
STATICD_BEFORE_BIN=${STATICD_BEFORE_BIN:-}
# Rules in the `_redirects` of server `staticd_rules` (staticd on a copy of the site; add it to SERVERS).
RULES=${RULES:-1000}
# The large site (scenarios large20k, large20k_gz): LARGE_DIRS folders of LARGE_FILES files of 2 KiB.
LARGE_DIRS=200
LARGE_FILES=100
LARGE_SIZE=2048
# nginx's open_file_cache size; empty: 40,000 (both large trees), or less when the open-files limit is lower.
NGINX_OFC_MAX=${NGINX_OFC_MAX:-}

# Headroom for the 10,000-connection test, the same for every server; set by raise_nofile.
MAX_CONNS=20000
NOFILE=65536
CLK_TCK=$(getconf CLK_TCK)
PAGE_KIB=$(($(getconf PAGESIZE) / 1024))

declare -A PID=() PORT=()
declare -a ACTIVE=() HELPERS=()
TMP=""

LOG_TAG=bench
# shellcheck source=benches/lib.sh
source "$HERE/lib.sh"

scenario_label() {
    local n=$((LARGE_DIRS * LARGE_FILES))
    n="$((n / 1000)),$(printf '%03d' $((n % 1000)))"
    case $1 in
        ka1k) echo "1 KiB keep-alive, $CONNS conns" ;;
        close1k) echo "1 KiB Connection: close, $CONNS conns" ;;
        pipe1k) echo "1 KiB pipelined x$PIPELINE_DEPTH, $CONNS conns" ;;
        ka64k) echo "64 KiB keep-alive, $CONNS conns" ;;
        big10m) echo "10 MiB keep-alive, $BIG_CONNS conns" ;;
        notfound) echo "404, $CONNS conns" ;;
        large20k) echo "$n files of 2 KiB in $LARGE_DIRS folders, random paths, $CONNS conns" ;;
        large20k_gz) echo "$n files of 2 KiB + .gz siblings, random paths, Accept-Encoding: gzip, $CONNS conns" ;;
        *) die "unknown scenario '$1'" ;;
    esac
}

# True when SCENARIOS includes SCENARIO.
wants() { [[ " $SCENARIOS " == *" $1 "* ]]; }

# The encoding SERVER answers the .gz scenario with: lighttpd cannot serve precompressed siblings.
gz_encoding() {
    case $1 in
        lighttpd) echo identity ;;
        *) echo gzip ;;
    esac
}

# --- setup -------------------------------------------------------------------------------------------------

install_missing() {
    local -A pkg_for=([nginx]=nginx-light [lighttpd]=lighttpd [h2o]=h2o)
    local -a want=(wrk=wrk curl=curl python3=python3 taskset=util-linux)
    local server
    for server in $SERVERS; do
        [[ $server == staticd* ]] || want+=("$server=${pkg_for[$server]}")
    done
    [[ $SKIP_STRACE == 1 ]] || want+=(strace=strace)
    install_commands "${want[@]}"
}


# Raises the open-files limit that every server and client inherits, and sizes MAX_CONNS to fit in it.
raise_nofile() {
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    NOFILE=$(ulimit -n)
    MAX_CONNS=$((NOFILE - 1000 < 20000 ? NOFILE - 1000 : 20000))
    ((MAX_CONNS > IDLE_CONNS)) || log "warning: open files limit $NOFILE is too low for IDLE_CONNS=$IDLE_CONNS"
    log "open files limit: $NOFILE (servers accept up to $MAX_CONNS connections)"
    # nginx keeps a descriptor open for every cached file, and with open_file_cache_errors it caches an EMFILE
    # too (500 for that path until open_file_cache_valid ends): the cache must fit in the limit.
    if [[ -z $NGINX_OFC_MAX ]]; then
        NGINX_OFC_MAX=$((NOFILE - 1000 < 40000 ? NOFILE - 1000 : 40000))
        ((NGINX_OFC_MAX == 40000)) || [[ " $SERVERS " != *" nginx "* ]] ||
            log "warning: open files limit $NOFILE: nginx open_file_cache max=$NGINX_OFC_MAX instead of 40000"
    fi
}

check_cpus() {
    taskset -c "$SERVER_CPU" true 2>/dev/null || die "cannot pin to SERVER_CPU=$SERVER_CPU"
    taskset -c "$CLIENT_CPU" true 2>/dev/null || die "cannot pin to CLIENT_CPU=$CLIENT_CPU"
    [[ $SERVER_CPU != "$CLIENT_CPU" ]] || log "warning: server and client share CPU $SERVER_CPU"
}

write_fixtures() {
    mkdir -p "$TMP/www"
    head -c 1024 /dev/urandom >"$TMP/www/1k.html"
    head -c $((64 * 1024)) /dev/urandom >"$TMP/www/64k.html"
    head -c $((10 * 1024 * 1024)) /dev/urandom >"$TMP/www/10m.bin"
    # Servers run as root drop to nobody (staticd also chroots into the root): everything must be readable.
    chmod 755 "$TMP" "$TMP/www"
    chmod 644 "$TMP/www/"*
    # The same site with a 1,000-rule _redirects that no benchmark request matches: what rules cost staticd.
    mkdir -p "$TMP/www-rules"
    cp "$TMP/www/"* "$TMP/www-rules/"
    local i
    for ((i = 0; i < RULES; i++)); do
        printf '/old/%d/* /new/%d/:splat 301\n' "$i" "$i"
    done >"$TMP/www-rules/_redirects"
    chmod 755 "$TMP/www-rules"
    chmod 644 "$TMP/www-rules/"*
    # The large site, only when a scenario asks for it (60,000 files take a while to create): /dNNN/fNNN.html
    # for large20k, and /gz/dNNN/fNNN.html each beside its fNNN.html.gz for large20k_gz.
    local -a trees=()
    if wants large20k; then
        log "writing the large site: $((LARGE_DIRS * LARGE_FILES)) files"
        python3 "$HERE/large_site.py" "$TMP/www" --dirs "$LARGE_DIRS" --files "$LARGE_FILES" --size "$LARGE_SIZE"
        for ((i = 0; i < LARGE_DIRS; i++)); do
            trees+=("$(printf 'd%03d' "$i")")
        done
    fi
    if wants large20k_gz; then
        log "writing the large site with .gz siblings: $((2 * LARGE_DIRS * LARGE_FILES)) files"
        python3 "$HERE/large_site.py" "$TMP/www/gz" --dirs "$LARGE_DIRS" --files "$LARGE_FILES" --size "$LARGE_SIZE" --gz
        trees+=(gz)
    fi
    # staticd_rules serves a copy of the site: hard links are enough and take no time to write.
    if ((${#trees[@]})) && [[ " $SERVERS " == *" staticd_rules "* ]]; then
        (cd "$TMP/www" && cp -al "${trees[@]}" "$TMP/www-rules/")
    fi
    # Write back the new files now, not in the kernel's writeback while a scenario runs.
    if ((${#trees[@]})); then
        sync
    fi
}


# --- process trees from /proc ------------------------------------------------------------------------------


# Prints "UTIME_PLUS_STIME_TICKS RSS_KIB" summed over ROOT's process tree (threads are included in each).
tree_usage() {
    local pid line rest ticks=0 rss=0
    local -a fields
    while read -r pid; do
        { read -r line <"/proc/$pid/stat"; } 2>/dev/null || continue
        rest=${line##*) }
        read -r -a fields <<<"$rest"
        # After the command name: field 3 (state) is index 0, so utime (14) is 11, stime (15) 12, rss (24) 21.
        ticks=$((ticks + fields[11] + fields[12]))
        rss=$((rss + fields[21] * PAGE_KIB))
    done < <(proc_tree "$1")
    echo "$ticks $rss"
}

check_pinned() {
    local server=$1 pid cpus
    while read -r pid; do
        cpus=$(awk '/^Cpus_allowed_list/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        [[ -z $cpus || $cpus == "$SERVER_CPU" ]] || log "warning: $server pid $pid runs on CPUs $cpus"
    done < <(proc_tree "${PID[$server]}")
}

# --- servers -----------------------------------------------------------------------------------------------

launch_staticd() {
    taskset -c "$SERVER_CPU" "$STATICD_BIN" --listen "127.0.0.1:$1" --workers 1 --max-conns "$MAX_CONNS" \
        "$TMP/www" >>"$TMP/staticd.log" 2>&1 &
    PID[staticd]=$!
}

# staticd on the copy of the site that has a RULES-rule _redirects (server `staticd_rules`).
launch_staticd_rules() {
    taskset -c "$SERVER_CPU" "$STATICD_BIN" --listen "127.0.0.1:$1" --workers 1 --max-conns "$MAX_CONNS" \
        "$TMP/www-rules" >>"$TMP/staticd_rules.log" 2>&1 &
    PID[staticd_rules]=$!
}

launch_staticd_before() {
    [[ -x $STATICD_BEFORE_BIN ]] || die "staticd_before needs STATICD_BEFORE_BIN (an executable), got '$STATICD_BEFORE_BIN'"
    taskset -c "$SERVER_CPU" "$STATICD_BEFORE_BIN" --listen "127.0.0.1:$1" --workers 1 --max-conns "$MAX_CONNS" \
        "$TMP/www" >>"$TMP/staticd_before.log" 2>&1 &
    PID[staticd_before]=$!
}

launch_nginx() {
    local dir=$TMP/nginx user_line="" mime="types { text/html html; application/octet-stream bin; }"
    mkdir -p "$dir"
    [[ $EUID != 0 ]] || user_line="user root;"
    [[ ! -r /etc/nginx/mime.types ]] || mime="include /etc/nginx/mime.types;"
    cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes 1;
worker_rlimit_nofile $NOFILE;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections $MAX_CONNS; }
http {
    $mime
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=$NGINX_OFC_MAX inactive=60s;
    open_file_cache_valid 60s;
    open_file_cache_errors on;
    # NAME.gz in place of NAME for clients that accept gzip, as staticd (by default) and h2o do.
    gzip_static on;
    keepalive_requests 1000000;
    access_log off;
    # Not part of the nginx configuration the other servers are matched against, but without it nginx writes an error-log line for every 404 request.
    log_not_found off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$1;
        root $TMP/www;
    }
}
EOF
    taskset -c "$SERVER_CPU" nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" >>"$dir/stderr.log" 2>&1 &
    PID[nginx]=$!
}

launch_lighttpd() {
    local dir=$TMP/lighttpd user_lines=""
    mkdir -p "$dir"
    # No server.errorlog: lighttpd opens it after dropping to nobody; in -D mode it logs to stderr instead.
    [[ $EUID != 0 ]] || user_lines=$'server.username = "nobody"\nserver.groupname = "nogroup"'
    cat >"$dir/lighttpd.conf" <<EOF
server.document-root = "$TMP/www"
server.bind = "127.0.0.1"
server.port = $1
server.max-keep-alive-requests = 1000000
# Raised so the idle-connection test (IDLE_CONNS) fits and is not cut by the default 5 s idle timeout.
server.max-keep-alive-idle = 60
server.max-fds = $NOFILE
server.max-connections = $((MAX_CONNS < NOFILE / 2 ? MAX_CONNS : NOFILE / 2))
mimetype.assign = (".html" => "text/html", ".bin" => "application/octet-stream")
$user_lines
EOF
    taskset -c "$SERVER_CPU" lighttpd -D -f "$dir/lighttpd.conf" >>"$dir/stderr.log" 2>&1 &
    PID[lighttpd]=$!
}

launch_h2o() {
    local dir=$TMP/h2o
    mkdir -p "$dir"
    # Started as root, h2o drops to nobody by itself; the fixtures are world-readable.
    cat >"$dir/h2o.conf" <<EOF
num-threads: 1
max-connections: $MAX_CONNS
# Raised so the idle-connection test is not cut by the default 10 s keep-alive timeout.
http1-request-timeout: 60
listen:
  host: 127.0.0.1
  port: $1
hosts:
  default:
    paths:
      /:
        file.dir: $TMP/www
        # NAME.gz (and NAME.br) in place of NAME for clients that accept them, as staticd does by default.
        file.send-compressed: ON
EOF
    taskset -c "$SERVER_CPU" h2o -m worker -c "$dir/h2o.conf" >>"$dir/stderr.log" 2>&1 &
    PID[h2o]=$!
}

# Prints "CODE SIZE" of GET PATH.
fetch() {
    curl -s -o /dev/null --max-time 10 -w '%{http_code} %{size_download}' "http://127.0.0.1:$1$2" || true
}

# Prints "CODE SIZE CONTENT-ENCODING" (identity when there is none) of GET PATH with Accept-Encoding: gzip.
# curl does not decode the body here: SIZE is what came over the wire.
fetch_gzip() {
    curl -s -o /dev/null -D - --max-time 10 -H 'Accept-Encoding: gzip' -w '%{http_code} %{size_download}\n' \
        "http://127.0.0.1:$1$2" 2>/dev/null | tr -d '\r' | awk '
        tolower($1) == "content-encoding:" { enc = tolower($2) }
        /^[0-9]+ [0-9]+$/ { result = $0 }
        END { print (result == "" ? "000 0" : result), (enc == "" ? "identity" : enc) }' || true
}

# Starts SERVER on a fresh port and checks that it serves every fixture; returns 1 (reason in $WHY) if not.
start_server() {
    local server=$1 port i got
    port=$(free_port)
    PORT[$server]=$port
    "launch_$server" "$port"
    for ((i = 0; i < 100; i++)); do
        got=$(fetch "$port" /1k.html)
        [[ $got == "000 0" ]] || break
        kill -0 "${PID[$server]}" 2>/dev/null || break
        sleep 0.1
    done
    local -a checks=("/1k.html 200 1024" "/64k.html 200 65536" "/10m.bin 200 10485760" "/missing.html 404 -")
    # The large site: a file from the middle of the tree, and a missing name in the same folder.
    ! wants large20k || checks+=("/d123/f045.html 200 $LARGE_SIZE" "/d123/f100.html 404 -")
    local check path code size got_code got_size
    for check in "${checks[@]}"; do
        read -r path code size <<<"$check"
        read -r got_code got_size <<<"$(fetch "$port" "$path")"
        if [[ $got_code != "$code" || ($size != - && $got_size != "$size") ]]; then
            WHY="GET $path gave '$got_code ${got_size:-}', expected $code; see logs in $TMP/$server*"
            stop_server "$server"
            return 1
        fi
    done
    # The .gz scenario: the precompressed sibling (byte for byte its size) where the server can serve one.
    if wants large20k_gz; then
        local got_enc want_enc want_size
        path=/gz/d123/f045.html
        want_enc=$(gz_encoding "$server")
        want_size=$LARGE_SIZE
        [[ $want_enc != gzip ]] || want_size=$(stat -c %s "$TMP/www$path.gz")
        read -r got_code got_size got_enc <<<"$(fetch_gzip "$port" "$path")"
        if [[ $got_code != 200 || $got_size != "$want_size" || $got_enc != "$want_enc" ]]; then
            WHY="GET $path (Accept-Encoding: gzip) gave '$got_code $got_size $got_enc', expected 200 $want_size"
            WHY+=" $want_enc; see logs in $TMP/$server*"
            stop_server "$server"
            return 1
        fi
        printf '%s\t%s\n' "$server" "$got_enc" >>"$TMP/encodings.tsv"
    fi
    check_pinned "$server"
    log "$server: pid ${PID[$server]} on 127.0.0.1:$port"
}



# --- measurements ------------------------------------------------------------------------------------------

# One wrk run of SCENARIO against SERVER; appends a row to runs.tsv.
run_wrk() {
    local round=$1 scen=$2 server=$3 port=${PORT[$3]} path conns
    local -a extra=() tail=()
    conns=$CONNS
    case $scen in
        ka1k) path=/1k.html ;;
        close1k)
            path=/1k.html
            extra=(-H 'Connection: close')
            ;;
        pipe1k)
            path=/1k.html
            extra=(-s "$HERE/pipeline.lua")
            tail=(-- "$PIPELINE_DEPTH")
            ;;
        ka64k) path=/64k.html ;;
        big10m)
            path=/10m.bin
            conns=$BIG_CONNS
            ;;
        notfound) path=/missing.html ;;
        large20k | large20k_gz)
            # random_paths.lua picks every request's path; the URL only names the server.
            path=/
            extra=(-s "$HERE/random_paths.lua")
            tail=(-- / "$LARGE_DIRS" "$LARGE_FILES")
            if [[ $scen == large20k_gz ]]; then
                extra+=(-H 'Accept-Encoding: gzip')
                tail=(-- /gz/ "$LARGE_DIRS" "$LARGE_FILES")
            fi
            ;;
        *) die "unknown scenario '$scen'" ;;
    esac
    local before after out raw=$TMP/wrk/$round-$scen-$server.txt
    read -r before _ <<<"$(tree_usage "${PID[$server]}")"
    out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c "$conns" -d "${DURATION}s" --timeout 10s "${extra[@]}" \
        "http://127.0.0.1:$port$path" "${tail[@]}" 2>&1) || log "warning: wrk failed for $scen / $server"
    read -r after _ <<<"$(tree_usage "${PID[$server]}")"
    printf '%s\n' "$out" >"$raw"
    [[ $round == warmup ]] && return 0
    local rps requests sockerr non2xx cpu_s
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    requests=$(awk '/ requests in / {print $1}' <<<"$out")
    sockerr=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' <<<"$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    cpu_s=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$scen" "$server" "${rps:-0}" "${requests:-0}" \
        "$cpu_s" "$DURATION" "${sockerr:-0}" "${non2xx:-0}" >>"$TMP/runs.tsv"
    log "round $round  $(printf '%-9s %-9s' "$scen" "$server") ${rps:-?} req/s  server CPU ${cpu_s}s"
}

load_rounds() {
    local server scen round i n=${#ACTIVE[@]}
    log "warm-up: 1 s of 1 KiB keep-alive per server"
    for server in "${ACTIVE[@]}"; do
        DURATION=1 run_wrk warmup ka1k "$server"
    done
    for ((round = 1; round <= ROUNDS; round++)); do
        for scen in $SCENARIOS; do
            # Rotate the order every round so no server always runs first (or right after the same one).
            for ((i = 0; i < n; i++)); do
                run_wrk "$round" "$scen" "${ACTIVE[(i + round - 1) % n]}"
            done
        done
    done
}

# Counts syscalls of every SERVER process while reqcount.py sends exactly STRACE_REQUESTS requests.
count_syscalls() {
    local server=$1 n out=$TMP/strace-$1.txt
    local -a pids
    mapfile -t pids < <(proc_tree "${PID[$server]}")
    strace_attach "$TMP/strace-$server.log" "${pids[@]}" -- -c -f -o "$out"
    n=$(taskset -c "$CLIENT_CPU" python3 "$HERE/reqcount.py" 127.0.0.1 "${PORT[$server]}" /1k.html \
        "$STRACE_REQUESTS" "$CONNS") || n=0
    strace_stop
    printf '%s\t%s\n' "$server" "$n" >>"$TMP/syscalls.tsv"
    log "strace $server: $n requests, $(awk '$NF == "total" {print $4}' "$out" 2>/dev/null) syscalls"
}

# Starts SERVER fresh, opens IDLE_CONNS idle keep-alive connections and records the RSS they add.
measure_memory() {
    local server=$1 cpid i base loaded alive=0 out=$TMP/idle-$1.out
    if ! start_server "$server"; then
        log "memory $server: $WHY"
        return 0
    fi
    for i in 1 2 3; do
        fetch "${PORT[$server]}" /1k.html >/dev/null
    done
    sleep 1
    read -r _ base <<<"$(tree_usage "${PID[$server]}")"
    : >"$out"
    taskset -c "$CLIENT_CPU" python3 "$HERE/idle_conns.py" 127.0.0.1 "${PORT[$server]}" /1k.html "$IDLE_CONNS" \
        >"$out" 2>&1 &
    cpid=$!
    HELPERS+=("$cpid")
    for ((i = 0; i < 1200; i++)); do
        grep -q '^READY' "$out" && break
        kill -0 "$cpid" 2>/dev/null || break
        sleep 0.1
    done
    if grep -q '^READY' "$out"; then
        sleep 2 # let the server settle (the staticd master hands descriptors over in batches)
        read -r _ loaded <<<"$(tree_usage "${PID[$server]}")"
        kill -TERM "$cpid" 2>/dev/null || true
        wait "$cpid" || true
        HELPERS=()
        alive=$(awk '/^ALIVE/ {print $2}' "$out")
        printf '%s\t%s\t%s\t%s\t%s\n' "$server" "$base" "$loaded" "$IDLE_CONNS" "${alive:-0}" >>"$TMP/memory.tsv"
        log "memory $server: $base KiB idle, $loaded KiB with $IDLE_CONNS connections (${alive:-0} still open)"
    else
        kill -TERM "$cpid" 2>/dev/null || true
        wait "$cpid" || true
        HELPERS=()
        log "memory $server: client failed: $(tail -n 1 "$out")"
    fi
    stop_server "$server"
}

write_meta() {
    local versions=() rev
    # `wrk -v` exits 1 after printing its version: every probe ends in `|| true` so set -e does not fire.
    [[ " $SERVERS " != *" nginx "* ]] || versions+=("$(nginx -v 2>&1 | sed 's/.*: //' || true)")
    [[ " $SERVERS " != *" lighttpd "* ]] || versions+=("$(lighttpd -v 2>&1 | awk '{print $1}' || true)")
    [[ " $SERVERS " != *" h2o "* ]] || versions+=("h2o/$(h2o --version 2>&1 | awk 'NR == 1 {print $3}' || true)")
    versions+=("wrk $(wrk -v 2>&1 | awk 'NR == 1 {print $2}' || true)")
    rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
    [[ -z $(git -C "$REPO" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]] || rev+="+changes"
    {
        echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "nproc=$(nproc)"
        echo "servers=${ACTIVE[*]} $(cut -f1 "$TMP/failed.tsv" 2>/dev/null | tr '\n' ' ')"
        printf 'versions='
        printf '%s, ' "${versions[@]}" | sed 's/, $//'
        echo
        echo "staticd_rev=$rev"
        echo "rounds=$ROUNDS"
        echo "duration=$DURATION"
        echo "conns=$CONNS"
        echo "big_conns=$BIG_CONNS"
        echo "nginx_open_file_cache=$NGINX_OFC_MAX"
        echo "server_cpu=$SERVER_CPU"
        echo "client_cpu=$CLIENT_CPU"
        echo "smoke=$SMOKE"
    } >"$TMP/meta.env"
}

main() {
    install_missing
    build_staticd
    raise_nofile
    check_cpus
    TMP=$(mktemp -d /tmp/staticd-bench.XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    mkdir -p "$TMP/wrk"
    write_fixtures
    local scen server
    for scen in $SCENARIOS; do
        printf '%s\t%s\n' "$scen" "$(scenario_label "$scen")" >>"$TMP/scenarios.tsv"
    done

    if [[ $SKIP_MEMORY != 1 ]]; then
        for server in $SERVERS; do
            measure_memory "$server"
        done
    fi

    for server in $SERVERS; do
        if start_server "$server"; then
            ACTIVE+=("$server")
        else
            log "$server failed: $WHY"
            printf '%s\t%s\n' "$server" "$WHY" >>"$TMP/failed.tsv"
        fi
    done
    ((${#ACTIVE[@]})) || die "no server could be started"
    load_rounds
    if [[ $SKIP_STRACE != 1 ]]; then
        for server in "${ACTIVE[@]}"; do
            count_syscalls "$server"
        done
    fi
    for server in "${ACTIVE[@]}"; do
        stop_server "$server"
    done

    write_meta
    python3 "$HERE/report.py" "$TMP" >"$TMP/results.md"
    echo
    cat "$TMP/results.md"
    if [[ -n $RESULTS ]]; then
        cp "$TMP/results.md" "$RESULTS"
        log "table written to $RESULTS"
    fi
}

main "$@"
