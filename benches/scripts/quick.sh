#!/usr/bin/env bash
# Usage: benches/scripts/quick.sh
#
# The headline figure in one command: builds the release binaries, starts charla-server on 127.0.0.1 port 0 with
# its history in a fresh temporary directory (never ./chat_history.json, never port 5555), runs
# `charla-bench fanout --clients 100 --senders 10 --closed-loop --size 64 --duration 10` against it, then stops
# the server by its PID and removes the directory, also on Ctrl+C. With two or more cores the server is pinned to
# CPU 0 and the tool to CPU 1. For the full table beside the floor server and ngIRCd: benches/scripts/compare.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# CHARLA_SERVER and CHARLA_BENCH, when set, name binaries to use instead of building (the tests do this);
# DURATION shortens the run.
if [ -z "${CHARLA_SERVER:-}" ] || [ -z "${CHARLA_BENCH:-}" ]; then
    build_release
fi
duration=${DURATION:-10}

tmp=$(mktemp -d -t charla-quick.XXXXXX)
pid=""
cleanup() {
    if [ -n "$pid" ]; then stop_pid "$pid"; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pinned "$SERVER_CPU" "$CHARLA_SERVER" --listen 127.0.0.1:0 --history-file "$tmp/h.json" \
    --flood-rate 0 --max-clients 20000 >"$tmp/server.out" 2>"$tmp/server.err" &
pid=$!
addr=$(first_line_addr "$tmp/server.out" "$pid") || die "charla-server did not start: $(tail -n 5 "$tmp/server.err")"
(pinned "$TOOL_CPU" "$CHARLA_BENCH" fanout --clients 100 --senders 10 --closed-loop --size 64 --duration "$duration" \
    --target "$addr" --server-pid "$pid")
