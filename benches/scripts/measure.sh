#!/usr/bin/env bash
# Usage: measure.sh NAME KIND TOOL-ARGS...
#
# One measurement: waits (at most QUIET_MAX seconds, default 300) for the machine to be quiet, starts a fresh
# server of KIND pinned to CPU 0, runs `charla-bench TOOL-ARGS --target ADDR --server-pid PID` pinned to CPU 1,
# stops the server by its PID and removes its temporary directory. The tool's report, with how long the run
# waited and how busy the whole machine was meanwhile, is appended to $RESULTS_DIR/NAME.txt and printed.
#
# KIND:
#   charla         charla-server ($CHARLA_SERVER, default: the newest release build of this repository)
#   charla-irc     the same charla-server, driven over IRC through its --irc-listen listener
#   charla-before  a second charla-server binary, $CHARLA_BEFORE, for before/after pairs measured alternately
#   floor          `charla-bench floor-server`, Charla's I/O without the chat: the yardstick
#   ngircd         ngIRCd (apt-get install ngircd), over IRC, configured from ngircd.conf.in on a free port
#
# The Charla kinds run with --listen 127.0.0.1:0 (charla-irc also with --irc-listen 127.0.0.1:0), a history file in a fresh `mktemp -d` directory,
# --flood-rate 0 (flood control would hold each benchmark sender to 5 lines a second) and --max-clients 20000.
#
# TLS=1: the run is over TLS. A throwaway CA and a server certificate it signs (ECDSA P-256, for 127.0.0.1, ::1
# and localhost, valid 2 days) are made with the openssl CLI in the server's temporary directory; Charla serves
# TLS only (--listen none --tls-listen 127.0.0.1:0 --tls-cert --tls-key), ngIRCd gets an [SSL] section with the
# same certificate and key on a second free port; the tool gets --tls --ca with the CA. Not for floor.
#
# Environment: RESULTS_DIR (default: a fresh `mktemp -d`, printed), CHARLA_SERVER, CHARLA_BENCH, CHARLA_BEFORE,
# TLS, QUIET_MAX (seconds, default 300), TOOL_TIMEOUT (seconds, default 600), SERVER_CPU (0), TOOL_CPU (1).
#
# Example: benches/scripts/measure.sh fanout-100 charla fanout --clients 100 --senders 10 --closed-loop --size 64 --duration 10
#          TLS=1 benches/scripts/measure.sh tls-fanout-100 ngircd fanout --clients 100 --senders 10 --closed-loop
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ $# -lt 3 ]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
    exit 2
fi
name=$1
kind=$2
shift 2
case $kind in
    charla | charla-irc | charla-before | floor | ngircd) ;;
    *) die "KIND must be charla, charla-irc, charla-before, floor or ngircd, not '$kind'" ;;
esac

if [ -z "${RESULTS_DIR:-}" ]; then
    RESULTS_DIR=$(mktemp -d -t charla-bench-results.XXXXXX)
    echo "results in $RESULTS_DIR" >&2
fi
mkdir -p "$RESULTS_DIR"
out=$RESULTS_DIR/$name.txt
find_binaries

case $kind in
    charla | charla-irc) server=$CHARLA_SERVER ;;
    charla-before)
        server=${CHARLA_BEFORE:-}
        if [ -z "$server" ] || [ ! -x "$server" ]; then
            die "charla-before needs CHARLA_BEFORE, the path of a charla-server binary"
        fi
        ;;
    ngircd) command -v ngircd >/dev/null || die "ngircd is not installed (apt-get install ngircd)" ;;
esac
tls=${TLS:-0}
case $tls in
    0 | 1) ;;
    *) die "TLS must be 0 or 1, not '$tls'" ;;
esac
if [ "$tls" = 1 ]; then
    [ "$kind" != floor ] || die "the floor server does not speak TLS"
    command -v openssl >/dev/null || die "TLS=1 needs the openssl command (apt-get install openssl)"
fi

# The server's temporary directory, removed on exit; the server, stopped by its PID on exit (and Ctrl+C).
tmp=$(mktemp -d -t charla-bench.XXXXXX)
pid=""
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    if [ -n "$pid" ]; then stop_pid "$pid"; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A quiet machine: at most 5% of all CPUs busy over 2 s.
quiet_max=${QUIET_MAX:-300}
threshold=$(($(nproc) * $(getconf CLK_TCK) * 2 / 20))
waited=0
quiet=yes
while :; do
    a=$(busy_jiffies)
    sleep 2
    b=$(busy_jiffies)
    [ $((b - a)) -le "$threshold" ] && break
    waited=$((waited + 2))
    if [ "$waited" -ge "$quiet_max" ]; then
        quiet=no
        break
    fi
    [ $((waited % 30)) -eq 0 ] && echo "measure.sh $name: waiting for a quiet machine ($waited s)" >&2
done

extra=()
listen=(--listen 127.0.0.1:0)
if [ "$tls" = 1 ]; then
    make_throwaway_certificate "$tmp" || die "openssl could not make the test certificate"
    listen=(--listen none --tls-listen 127.0.0.1:0 --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem")
    extra=(--tls --ca "$tmp/ca.pem")
fi
case $kind in
    charla | charla-before)
        pinned "$SERVER_CPU" "$server" "${listen[@]}" --history-file "$tmp/chat_history.json" \
            --flood-rate 0 --max-clients 20000 >"$tmp/server.out" 2>"$tmp/server.err" &
        pid=$!
        if [ "$tls" = 1 ]; then
            line=$(wait_for_line "$tmp/server.out" "$pid" '^Server started on .* \(TLS\)$' 10) ||
                die "$kind did not start: $(tail -n 5 "$tmp/server.err")"
            addr=$(awk '{ print $(NF - 1) }' <<<"$line")
        else
            addr=$(first_line_addr "$tmp/server.out" "$pid") || die "$kind did not start: $(tail -n 5 "$tmp/server.err")"
        fi
        ;;
    charla-irc)
        # The same server and flags, plus the IRC listener, which prints `IRC on ADDR` (after the plain one).
        pinned "$SERVER_CPU" "$server" --irc-listen 127.0.0.1:0 --listen 127.0.0.1:0 \
            --history-file "$tmp/chat_history.json" --flood-rate 0 --max-clients 20000 \
            >"$tmp/server.out" 2>"$tmp/server.err" &
        pid=$!
        line=$(wait_for_line "$tmp/server.out" "$pid" '^IRC on ' 10) || die "$kind did not start: $(tail -n 5 "$tmp/server.err")"
        addr=${line##* }
        extra=(--protocol irc)
        ;;
    floor)
        server=$CHARLA_BENCH
        pinned "$SERVER_CPU" "$CHARLA_BENCH" floor-server --target 127.0.0.1:0 \
            >"$tmp/server.out" 2>"$tmp/server.err" &
        pid=$!
        addr=$(first_line_addr "$tmp/server.out" "$pid") || die "floor-server did not start: $(tail -n 5 "$tmp/server.err")"
        ;;
    ngircd)
        server=$(command -v ngircd)
        # Started as root, ngIRCd switches to "nobody", which must be able to write its PID file.
        chmod 711 "$tmp"
        mkdir -m 1777 "$tmp/run"
        for attempt in 1 2 3 4 5; do
            port=$(free_port) || die "no free port found for ngIRCd"
            sed -e "s/@PORT@/$port/" -e "s|@PIDFILE@|$tmp/run/ngircd.pid|" "$SCRIPTS_DIR/ngircd.conf.in" >"$tmp/ngircd.conf"
            listening=$port
            if [ "$tls" = 1 ]; then
                # The plain port stays (without one ngIRCd would take 6667); the tool uses the TLS one.
                tls_port=$(free_port) || die "no free port found for ngIRCd's TLS"
                [ "$tls_port" != "$port" ] || continue
                printf '\n[SSL]\n\tPorts = %s\n\tCertFile = %s\n\tKeyFile = %s\n\tDHFile = %s\n' \
                    "$tls_port" "$tmp/cert.pem" "$tmp/key.pem" "$tmp/dh.pem" >>"$tmp/ngircd.conf"
                listening=$tls_port
            fi
            pinned "$SERVER_CPU" ngircd --nodaemon --config "$tmp/ngircd.conf" >"$tmp/server.out" 2>&1 &
            pid=$!
            if wait_for_line "$tmp/server.out" "$pid" ' ready\.$' 30 >/dev/null &&
                grep -q "Now listening on \[127.0.0.1\]:$listening " "$tmp/server.out"; then
                break
            fi
            stop_pid "$pid"
            pid=""
            [ "$attempt" -lt 5 ] || die "ngIRCd did not start: $(tail -n 5 "$tmp/server.out")"
        done
        addr=127.0.0.1:$listening
        extra+=(--protocol irc)
        ;;
esac

cmd=("$CHARLA_BENCH" "$@" --target "$addr" "${extra[@]}" --server-pid "$pid")
{
    echo "\$ taskset -c $TOOL_CPU ${cmd[*]}"
    echo "# measure.sh $name $kind$([ "$tls" = 1 ] && echo ' over TLS'); server $server; $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
} >"$tmp/run.txt"
start=$(date +%s.%N)
before=$(busy_jiffies)
status=0
(pinned "$TOOL_CPU" timeout --foreground "${TOOL_TIMEOUT:-600}" "${cmd[@]}") >>"$tmp/run.txt" 2>&1 || status=$?
after=$(busy_jiffies)
end=$(date +%s.%N)
quiet_note="waited $waited s for a quiet machine"
[ "$quiet" = yes ] || quiet_note="NOT QUIET after waiting $waited s"
busy=$(awk -v j=$((after - before)) -v hz="$(getconf CLK_TCK)" -v s="$start" -v e="$end" \
    'BEGIN { printf "%.2f s (all processes, all cores) over %.1f s", j / hz, e - s }')
echo "exit $status; $quiet_note; machine CPU busy during the run: $busy" >>"$tmp/run.txt"
if ! kill -0 "$pid" 2>/dev/null; then
    echo "warning: the server had exited before the end of the run" >>"$tmp/run.txt"
fi
stop_pid "$pid"
pid=""
if [ "$kind" != ngircd ] && grep -q -E ' (WARN|ERROR) ' "$tmp/server.err"; then
    { echo "server warnings and errors (first 10):"; grep -E ' (WARN|ERROR) ' "$tmp/server.err" | head -n 10; } >>"$tmp/run.txt"
fi
echo >>"$tmp/run.txt"
cat "$tmp/run.txt" >>"$out"
cat "$tmp/run.txt"
exit "$status"
