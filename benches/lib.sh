# Helpers the benchmark scripts share (load.sh, compress.sh, upload.sh): logging, installing what they run,
# building staticd, free ports, the process tree of a server and its CPU time, strace attached to a server,
# and stopping servers on exit. Sourced, never run; the sourcing script declares PID (server name -> pid),
# HELPERS (background pids), TMP, KEEP_TMP, REPO, STATICD_BIN, CLIENT_CPU and LOG_TAG.

log() { printf '[%s %(%H:%M:%S)T] %s\n' "$LOG_TAG" -1 "$*" >&2; }

die() {
    log "error: $*"
    exit 1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Prints ROOT and every descendant, one pid a line.
proc_tree() {
    local root=$1 f line pid rest
    local -A kids=()
    local -a fields queue=("$root")
    for f in /proc/[0-9]*/stat; do
        { read -r line <"$f"; } 2>/dev/null || continue
        pid=${line%% *}
        rest=${line##*) }
        read -r -a fields <<<"$rest"
        kids[${fields[1]}]+="$pid "
    done
    while ((${#queue[@]})); do
        pid=${queue[0]}
        queue=("${queue[@]:1}")
        [[ -d /proc/$pid ]] || continue
        echo "$pid"
        # shellcheck disable=SC2206 # the list is pids separated by spaces
        [[ -z ${kids[$pid]:-} ]] || queue+=(${kids[$pid]})
    done
}

# install_commands CMD=PACKAGE...: installs the Debian package of every command that is not on PATH (as
# root), or stops naming them.
install_commands() {
    local pair
    local -a missing=()
    for pair in "$@"; do
        command -v "${pair%%=*}" >/dev/null || missing+=("${pair#*=}")
    done
    ((${#missing[@]})) || return 0
    [[ $EUID == 0 ]] || die "missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root"
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# utime+stime ticks summed over ROOT's process tree.
tree_ticks() {
    local pid line rest ticks=0
    local -a fields
    while read -r pid; do
        { read -r line <"/proc/$pid/stat"; } 2>/dev/null || continue
        rest=${line##*) }
        read -r -a fields <<<"$rest"
        ticks=$((ticks + fields[11] + fields[12]))
    done < <(proc_tree "$1")
    echo "$ticks"
}

# Busy ticks (all but idle and iowait) of CPU N since boot, from /proc/stat.
cpu_busy() {
    awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}

# strace_attach LOG PID... -- STRACE_ARGS...: strace on CLIENT_CPU, attached to every PID, its own messages in
# LOG; returns once it has attached to them all (or after 5 s). Its pid is SPID, also kept in HELPERS.
strace_attach() {
    local log=$1 i
    shift
    local -a pids=()
    while [[ $1 != -- ]]; do
        pids+=(-p "$1")
        shift
    done
    shift
    taskset -c "$CLIENT_CPU" strace "$@" "${pids[@]}" >/dev/null 2>"$log" &
    SPID=$!
    HELPERS+=("$SPID")
    for ((i = 0; i < 50; i++)); do
        (($(grep -c attached "$log" 2>/dev/null || true) >= ${#pids[@]} / 2)) && break
        sleep 0.1
    done
}

# Stops the strace of strace_attach (it detaches and writes its summary) and forgets the helpers, reaped.
strace_stop() {
    kill -INT "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    HELPERS=()
}

# STATICD_BIN as given, or a release build of this checkout.
build_staticd() {
    if [[ -n $STATICD_BIN ]]; then
        [[ -x $STATICD_BIN ]] || die "STATICD_BIN=$STATICD_BIN is not executable"
        return
    fi
    log "building staticd (release)"
    (cd "$REPO" && cargo build --release --quiet)
    STATICD_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/staticd
}

# Stops server NAME and everything it forked: TERM, up to 5 s for it to go, then KILL for what is left.
stop_server() {
    local name=$1 root=${PID[$1]:-} i
    [[ -n $root ]] || return 0
    local -a tree
    mapfile -t tree < <(proc_tree "$root")
    kill -TERM "$root" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$root" 2>/dev/null || break
        sleep 0.1
    done
    if ((${#tree[@]})); then
        kill -KILL "${tree[@]}" 2>/dev/null || true
    fi
    wait "$root" 2>/dev/null || true
    unset "PID[$name]"
}

# The EXIT trap: background helpers, then every server still running, then the temporary directory.
cleanup() {
    local name pid
    for pid in "${HELPERS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for name in "${!PID[@]}"; do
        stop_server "$name"
    done
    if [[ -n $TMP && $KEEP_TMP != 1 ]]; then
        rm -rf "$TMP"
    elif [[ -n $TMP ]]; then
        log "kept $TMP"
    fi
}
