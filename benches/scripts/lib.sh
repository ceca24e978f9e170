# shellcheck shell=bash
# Shared by the benchmark scripts in this directory; sourced, not run.
#
# Nothing here touches the user's files or ports: every server gets a fresh `mktemp -d` directory for its
# history and output, listens on 127.0.0.1 port 0 (ngIRCd, which cannot, on a port checked to be free), and is
# stopped by its process ID.

# The repository: two levels above this file.
CHARLA_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this file
SCRIPTS_DIR="$CHARLA_ROOT/benches/scripts"
# The cores the server and the load tool are pinned to.
SERVER_CPU=${SERVER_CPU:-0}
TOOL_CPU=${TOOL_CPU:-1}

die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

# The host's target tuple (what `rustc --print host-tuple` prints on Rust 1.84 and later).
host_tuple() {
    rustc -vV | sed -n 's/^host: //p'
}

# Builds the release binaries and sets CHARLA_SERVER and CHARLA_BENCH to the executables Cargo reports, wherever
# .cargo/config.toml puts them (target/release/ or target/<host tuple>/release/).
build_release() {
    local json
    json=$(cd "$CHARLA_ROOT" && cargo build --release --bins --message-format=json-render-diagnostics) ||
        die "cargo build --release failed"
    CHARLA_SERVER=$(grep -o '"executable":"[^"]*/charla-server"' <<<"$json" | tail -n 1 | cut -d '"' -f 4)
    CHARLA_BENCH=$(grep -o '"executable":"[^"]*/charla-bench"' <<<"$json" | tail -n 1 | cut -d '"' -f 4)
    if [ ! -x "$CHARLA_SERVER" ] || [ ! -x "$CHARLA_BENCH" ]; then
        die "cargo did not report the charla-server and charla-bench executables"
    fi
    export CHARLA_SERVER CHARLA_BENCH
}

# Prints the path of an already built release binary NAME: $CARGO_TARGET_DIR (default target/) release/NAME or
# <host tuple>/release/NAME, the newer of the two if both exist.
find_binary() {
    local name=$1 dir best=""
    dir=${CARGO_TARGET_DIR:-$CHARLA_ROOT/target}
    for candidate in "$dir/release/$name" "$dir/$(host_tuple)/release/$name"; do
        if [ -x "$candidate" ] && { [ -z "$best" ] || [ "$candidate" -nt "$best" ]; }; then
            best=$candidate
        fi
    done
    [ -n "$best" ] || die "no release build of $name under $dir; run: cargo build --release"
    echo "$best"
}

# Sets CHARLA_SERVER and CHARLA_BENCH, unless the caller already did, to the newest release build.
find_binaries() {
    CHARLA_SERVER=${CHARLA_SERVER:-$(find_binary charla-server)}
    CHARLA_BENCH=${CHARLA_BENCH:-$(find_binary charla-bench)}
    export CHARLA_SERVER CHARLA_BENCH
}

# Runs "$@" pinned to CPU $1 when the machine has that CPU and taskset exists, else unpinned. It execs, so call it
# in the background (`pinned 0 server &`: $! is then the server's PID) or in a subshell.
pinned() {
    local cpu=$1
    shift
    if command -v taskset >/dev/null && [ "$cpu" -lt "$(nproc)" ]; then
        exec taskset -c "$cpu" "$@"
    else
        exec "$@"
    fi
}

# wait_for_line FILE PID PATTERN SECONDS: waits until FILE has a line matching PATTERN (grep -E) and prints the
# first such line. Fails if process PID exits first or SECONDS pass.
wait_for_line() {
    local file=$1 pid=$2 pattern=$3 tenths=$(($4 * 10)) line
    for ((i = 0; i < tenths; i++)); do
        line=$(grep -E -m 1 -- "$pattern" "$file" 2>/dev/null || true)
        if [ -n "$line" ]; then
            echo "$line"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# The address a server printed on its first stdout line (`Server started on ADDR`, `Floor server listening on
# ADDR`): the last word.
first_line_addr() {
    local file=$1 pid=$2 line
    line=$(wait_for_line "$file" "$pid" '^(Server started on|Floor server listening on) ' 10) || return 1
    echo "${line##* }"
}

# stop_pid PID: SIGTERM, then SIGKILL if it has not exited within 5 s; reaps it if it is our child.
stop_pid() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || {
        wait "$pid" 2>/dev/null || true
        return 0
    }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}

# A TCP port on 127.0.0.1 that nothing listens on, in 20000-31999: below Linux's ephemeral range (32768 and up by
# default), so the load tool's own connections cannot take it, and far from 5555 and 6667. The caller still checks
# that its server got it.
free_port() {
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 12000))
        if [ -z "$(ss -Htln "sport = :$port")" ]; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# make_throwaway_certificate DIR: a CA (DIR/ca.pem) and a server certificate it signs (DIR/cert.pem, key
# DIR/key.pem) for 127.0.0.1, ::1 and localhost, ECDSA P-256, valid 2 days, made with the openssl CLI; and
# Diffie-Hellman parameters (DIR/dh.pem) that ngIRCd built with GnuTLS would otherwise generate at start-up.
# The files are readable by all: a server started as root that switches to "nobody" (ngIRCd) must read them.
make_throwaway_certificate() {
    local dir=$1
    {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
            -keyout "$dir/ca.key" -out "$dir/ca.pem" -subj "/CN=charla-bench throwaway CA" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign &&
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout "$dir/key.pem" -out "$dir/server.csr" -subj /CN=localhost &&
            printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' \
                >"$dir/server.ext" &&
            openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
                -days 2 -extfile "$dir/server.ext" -out "$dir/cert.pem" &&
            openssl dhparam -dsaparam -out "$dir/dh.pem" 2048
    } >"$dir/openssl.log" 2>&1 || return 1
    chmod 644 "$dir/ca.pem" "$dir/cert.pem" "$dir/key.pem" "$dir/dh.pem"
}

# Non-idle jiffies of all CPUs together since boot (user, nice, system, irq, softirq, steal).
busy_jiffies() {
    awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat
}
