#!/usr/bin/env bash
# Usage: startrss.sh [BINARY]
#
# Start-up memory of a charla-server binary (default: the newest release build of this repository): starts it
# five times, pinned to CPU 0, on 127.0.0.1 port 0 with its history in a fresh `mktemp -d` directory, and prints
# VmRSS (/proc/PID/status) and PSS (/proc/PID/smaps_rollup, which divides shared pages among the processes that
# map them) one second after each start. Each server is stopped by its PID.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

binary=${1:-$(find_binary charla-server)}
[ -x "$binary" ] || die "not an executable: $binary"

tmp=""
pid=""
cleanup() {
    if [ -n "$pid" ]; then stop_pid "$pid"; fi
    if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "# startrss.sh $binary ($(stat -c %s "$binary") bytes)"
for _ in 1 2 3 4 5; do
    tmp=$(mktemp -d -t charla-startrss.XXXXXX)
    pinned "$SERVER_CPU" "$binary" --listen 127.0.0.1:0 --history-file "$tmp/chat_history.json" \
        >"$tmp/server.out" 2>"$tmp/server.err" &
    pid=$!
    sleep 1
    grep -q '^Server started on ' "$tmp/server.out" || die "the server did not start: $(tail -n 5 "$tmp/server.err")"
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || true)
    echo "VmRSS: ${rss} kB  Pss: ${pss:-?} kB"
    stop_pid "$pid"
    pid=""
    rm -rf "$tmp"
    tmp=""
done
