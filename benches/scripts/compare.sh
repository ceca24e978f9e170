#!/usr/bin/env bash
# Usage: benches/scripts/compare.sh
#
# Reproduces the table of BENCHMARKS.md: builds the release binaries, then runs each scenario once per kind of
# server, interleaved (Charla, [Charla before,] the floor server, ngIRCd, then the next scenario), REPS times, each
# run through measure.sh (quiet machine, fresh server pinned to CPU 0, tool pinned to CPU 1, --server-pid), then
# start-up memory through startrss.sh, and prints the table in Markdown. Every run's full report stays in
# RESULTS_DIR.
#
# Scenarios: fanout closed loop, 100 clients, 10 senders, 64 B, 10 s; the same with 1,000 clients; fanout at
# --rate 100 to 1,000 clients, 10 s; connect 10,000 clients, hold 5 s (the Charla kinds only); RSS at start.
#
# With TLS=1, the TLS table instead (Charla, [Charla before,] ngIRCd; the floor server has no TLS): every run
# over TLS with a throwaway certificate (see measure.sh), fanout closed loop with 100 and with 1,000 clients as
# above; connect 2,000 clients 10 at a time, hold 1 s, for handshakes/s; connect 10,000 clients 10 at a time,
# hold 5 s, for RSS per idle client. In the connect runs ngIRCd's clients register (001) and join no channel
# (--no-join: 10,000 JOINs to one channel would send each JOIN to everyone in it); 10 at a time because
# ngIRCd's listen backlog is 10, and more would measure SYN retransmits instead of handshakes.
#
# Environment:
#   REPS=N          repetitions of each scenario (default 3)
#   TLS=1           the TLS table instead (needs the openssl command)
#   QUICK=1         a smoke run: 2 s of sending, connect holds 1 s, waits at most 20 s for a quiet machine
#   CHARLA_BEFORE   path of another charla-server binary, measured as "Charla before" alternately with this one
#   NGIRCD=0        leave ngIRCd out (it is also left out, with a warning, when it is not installed)
#   IRC=1           add Charla's IRC listener (measure.sh KIND charla-irc), with its CPU per delivery over ngIRCd's
#                   and over Charla's own line protocol's
#   FLOOR=0         leave the floor server out
#   RESULTS_DIR     where the reports go (default: a fresh `mktemp -d`, printed)
#   QUIET_MAX, TOOL_TIMEOUT, SERVER_CPU, TOOL_CPU: see measure.sh
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

reps=${REPS:-3}
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive number"
if [ "${QUICK:-0}" = 1 ]; then
    duration=2
    hold=1
    export QUIET_MAX=${QUIET_MAX:-20}
else
    duration=10
    hold=5
fi

build_release
kinds=(charla)
[ "${IRC:-0}" = 1 ] && kinds+=(charla-irc)
if [ -n "${CHARLA_BEFORE:-}" ]; then
    [ -x "$CHARLA_BEFORE" ] || die "CHARLA_BEFORE is not an executable: $CHARLA_BEFORE"
    kinds+=(charla-before)
fi
tls=${TLS:-0}
# The floor server has no TLS.
[ "$tls" = 1 ] || [ "${FLOOR:-1}" = 0 ] || kinds+=(floor)
if [ "${NGIRCD:-1}" != 0 ]; then
    if command -v ngircd >/dev/null; then
        kinds+=(ngircd)
    else
        echo "compare.sh: ngircd is not installed (apt-get install ngircd); leaving it out" >&2
    fi
fi
charla_kinds=(charla)
[ -n "${CHARLA_BEFORE:-}" ] && charla_kinds+=(charla-before)
has() {
    local k
    for k in "${kinds[@]}"; do [ "$k" = "$1" ] && return 0; done
    return 1
}

if [ -z "${RESULTS_DIR:-}" ]; then
    RESULTS_DIR=$(mktemp -d -t charla-bench-results.XXXXXX)
fi
export RESULTS_DIR
echo "compare.sh: results in $RESULTS_DIR" >&2
trap 'exit 130' INT TERM

declare -A scenario_args=(
    [closed100]="fanout --clients 100 --senders 10 --closed-loop --size 64 --duration $duration"
    [closed1000]="fanout --clients 1000 --senders 10 --closed-loop --size 64 --duration $duration"
    [rate100]="fanout --clients 1000 --rate 100 --duration $duration"
    [connect10000]="connect --clients 10000 --hold $hold"
    [tlsclosed100]="fanout --clients 100 --senders 10 --closed-loop --size 64 --duration $duration"
    [tlsclosed1000]="fanout --clients 1000 --senders 10 --closed-loop --size 64 --duration $duration"
    [tlshandshakes]="connect --clients 2000 --concurrency 10 --hold 1"
    [tlsconnect10000]="connect --clients 10000 --concurrency 10 --hold $hold"
)
if [ "$tls" = 1 ]; then
    export TLS=1
    fanouts=(tlsclosed100 tlsclosed1000 tlshandshakes tlsconnect10000)
    total=$((reps * ${#fanouts[@]} * ${#kinds[@]}))
else
    export TLS=0
    fanouts=(closed100 closed1000 rate100)
    total=$((reps * (${#fanouts[@]} * ${#kinds[@]} + ${#charla_kinds[@]})))
fi
n=0
run() {
    local name=$1 kind=$2 scenario=$3 args
    args=${scenario_args[$scenario]}
    # IRC clients that register and join no channel: see the header.
    if [ "$kind" = ngircd ] && [[ $args == connect* ]]; then args="$args --no-join"; fi
    n=$((n + 1))
    local over=""
    if [ "$tls" = 1 ]; then over=" over TLS"; fi
    echo "compare.sh: [$n/$total] $kind$over $args" >&2
    local status=0
    # shellcheck disable=SC2086 # the scenario's arguments are words
    "$SCRIPTS_DIR/measure.sh" "$name" "$kind" $args >/dev/null || status=$?
    case $status in
        0) ;;
        130 | 143) exit 130 ;; # interrupted (Ctrl+C): stop here
        *) echo "compare.sh: $name failed; see $RESULTS_DIR/$name.txt" >&2 ;;
    esac
}
for rep in $(seq "$reps"); do
    for scenario in "${fanouts[@]}"; do
        for kind in "${kinds[@]}"; do run "$kind-$scenario-$rep" "$kind" "$scenario"; done
    done
    [ "$tls" = 1 ] && continue
    for kind in "${charla_kinds[@]}"; do run "$kind-connect10000-$rep" "$kind" connect10000; done
done
if [ "$tls" = 0 ]; then
    echo "compare.sh: start-up memory" >&2
    "$SCRIPTS_DIR/startrss.sh" "$CHARLA_SERVER" >"$RESULTS_DIR/charla-startrss.txt"
    if [ -n "${CHARLA_BEFORE:-}" ]; then
        "$SCRIPTS_DIR/startrss.sh" "$CHARLA_BEFORE" >"$RESULTS_DIR/charla-before-startrss.txt"
    fi
fi

# --- The table -----------------------------------------------------------------------------------------------

# value FILE WHAT: one figure from a measure.sh report, or "failed" if the run did not exit 0.
value() {
    local file=$1 what=$2
    if [ ! -f "$file" ] || ! grep -q '^exit 0;' "$file"; then
        echo failed
        return
    fi
    case $what in
        rate) awk '$1 == "deliveries/s" { v = $2 } END { print v }' "$file" ;;
        cpu) awk '/^  CPU per 1000 deliveries/ { v = $5 } END { print v }' "$file" ;;
        p50 | p99) awk -v k="$what" '$1 == "latency" { for (i = 2; i < NF; i++) if ($i == k) v = $(i + 1) " " $(i + 2) }
            END { print v }' "$file" ;;
        lost) awk '$1 == "lost" { v = $4 } END { print v }' "$file" ;;
        handshakes) awk '$1 == "TLS" && $2 == "handshakes/s" { v = $3 } END { print v }' "$file" ;;
        joincpu) awk '/^  CPU per client joining/ { v = $5 } END { print v }' "$file" ;;
        rss_before) awk '$1 == "RSS" && $4 == "before" { v = $2 } END { print v }' "$file" ;;
        connect) awk '/clients in room/ { room = $4 " of " $6 " " $7 " " $8 }
            /time until all in room/ { t = $6 } /RSS per client/ { b = $4 }
            END { print room ", all in room in " t " s, " b " B per client" }' "$file" ;;
    esac
}
# cell KIND SCENARIO WHAT: the figures of every repetition, in the order they ran.
cell() {
    local kind=$1 scenario=$2 what=$3 out="" rep v
    for rep in $(seq "$reps"); do
        v=$(value "$RESULTS_DIR/$kind-$scenario-$rep.txt" "$what")
        if [ "$what" = cpu ] && [ "$v" != failed ]; then v="$v ms"; fi
        if [ "$what" = joincpu ] && [ "$v" != failed ]; then v="$v µs"; fi
        if [ "$what" = lost ]; then v="$v / $(value "$RESULTS_DIR/$kind-$scenario-$rep.txt" cpu) ms"; fi
        out="${out:+$out · }$v"
    done
    echo "$out"
}
# ratio KIND1 KIND2 SCENARIO [WHAT]: server CPU per delivery (or WHAT) of KIND1 over KIND2, per repetition.
ratio() {
    local out="" rep a b what=${4:-cpu}
    for rep in $(seq "$reps"); do
        a=$(value "$RESULTS_DIR/$1-$3-$rep.txt" "$what")
        b=$(value "$RESULTS_DIR/$2-$3-$rep.txt" "$what")
        out="${out:+$out · }$(awk -v a="$a" -v b="$b" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')"
    done
    echo "$out"
}
# range: "min–max" of the numbers on standard input.
range() {
    sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR == 0) print "-"; else if (lo == hi) print lo; else print lo "–" hi }'
}
rss_before() {
    local kind=$1 scenario rep
    for scenario in "${fanouts[@]}"; do
        for rep in $(seq "$reps"); do value "$RESULTS_DIR/$kind-$scenario-$rep.txt" rss_before; done
    done | grep -E '^[0-9]+$' | range
}
startrss() {
    local file="$RESULTS_DIR/$1-startrss.txt"
    echo "VmRSS $(awk '/^VmRSS:/ { print $2 }' "$file" | range) kB, PSS $(awk '/^VmRSS:/ { print $5 }' "$file" | range) kB"
}

label() {
    case $1 in
        charla) echo "Charla" ;;
        charla-irc) echo "Charla IRC" ;;
        charla-before) echo "Charla before" ;;
        floor) echo "floor-server" ;;
        ngircd) echo "ngIRCd" ;;
    esac
}
ratios=()
has ngircd && ratios+=("charla ngircd")
has charla-irc && has ngircd && ratios+=("charla-irc ngircd")
has charla-irc && ratios+=("charla-irc charla")
has charla-before && ratios+=("charla charla-before")

# row TITLE SCENARIO WHAT [ratio]: one line of the table; the ratio is of WHAT where that is a CPU figure.
row() {
    local title=$1 scenario=$2 what=$3 with_ratio=${4:-} line kind pair
    line="| $title |"
    for kind in "${kinds[@]}"; do line="$line $(cell "$kind" "$scenario" "$what") |"; done
    for pair in "${ratios[@]}"; do
        # shellcheck disable=SC2086 # the pair is two words
        if [ -n "$with_ratio" ]; then line="$line $(ratio $pair "$scenario" "${what/lost/cpu}") |"; else line="$line |"; fi
    done
    echo "$line"
}
# charla_row TITLE CONTENT-FUNCTION: a line with figures for the Charla kinds only.
charla_row() {
    local title=$1 fn=$2 line kind
    line="| $title |"
    for kind in "${kinds[@]}"; do
        case $kind in
            charla | charla-before) line="$line $($fn "$kind") |" ;;
            *) line="$line |" ;;
        esac
    done
    for _ in "${ratios[@]}"; do line="$line |"; done
    echo "$line"
}
connect_cell() { cell "$1" connect10000 connect; }

commit=$(git -C "$CHARLA_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$CHARLA_ROOT" diff --quiet HEAD 2>/dev/null || commit="$commit plus uncommitted changes"
echo "Commit $commit; $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)); kernel $(uname -r); $(rustc --version)"
if has ngircd; then ngircd --version | sed -n 1p; fi
[ -n "${CHARLA_BEFORE:-}" ] && echo "Charla before: $CHARLA_BEFORE"
echo "REPS=$reps${QUICK:+, QUICK=$QUICK}; runs separated by ' · ' in the order they ran; reports in $RESULTS_DIR"
echo
header="| scenario |"
rule="| --- |"
for kind in "${kinds[@]}"; do
    header="$header $(label "$kind") |"
    rule="$rule --- |"
done
for pair in "${ratios[@]}"; do
    read -r a b <<<"$pair"
    header="$header $(label "$a") CPU / $(label "$b") CPU |"
    rule="$rule --- |"
done
echo "$header"
echo "$rule"
if [ "$tls" = 1 ]; then
    row "over TLS: closed loop, 100 clients, 10 senders, 64 B, $duration s: deliveries/s" tlsclosed100 rate
    row "same: server CPU per 1000 deliveries" tlsclosed100 cpu ratio
    row "over TLS: closed loop, 1,000 clients: deliveries/s" tlsclosed1000 rate
    row "same: server CPU per 1000 deliveries" tlsclosed1000 cpu ratio
    row "TLS handshakes/s (connect 2,000, 10 at a time)" tlshandshakes handshakes
    row "same: server CPU per client joining (handshake and login)" tlshandshakes joincpu ratio
    row "connect 10,000 over TLS, 10 at a time, hold $hold s" tlsconnect10000 connect
    row "same: TLS handshakes/s" tlsconnect10000 handshakes
else
    row "closed loop, 100 clients, 10 senders, 64 B, $duration s: deliveries/s" closed100 rate
    row "same: server CPU per 1000 deliveries" closed100 cpu ratio
    row "closed loop, 1,000 clients: deliveries/s" closed1000 rate
    row "same: server CPU per 1000 deliveries" closed1000 cpu ratio
    row "rate 100 msg/s, 1,000 clients, $duration s: latency p99" rate100 p99
    row "same: latency p50" rate100 p50
    row "same: lost / server CPU per 1000 deliveries" rate100 lost ratio
    line="| server RSS at start (\`RSS … before\`, KiB) |"
    for kind in "${kinds[@]}"; do line="$line $(rss_before "$kind") |"; done
    for _ in "${ratios[@]}"; do line="$line |"; done
    echo "$line"
    charla_row "connect 10,000, hold $hold s" connect_cell
    charla_row "start-up memory, 5 starts (startrss.sh)" startrss
fi

# What a reader must know to trust the figures: failed runs, lost messages, a tool that was the limit, a busy
# machine.
echo
echo "Failed runs, lost messages, warnings of the tool and runs on a busy machine (none listed: none):"
for file in "$RESULTS_DIR"/*-[0-9]*.txt; do
    base=$(basename "$file" .txt)
    if ! grep -q '^exit 0;' "$file"; then
        echo "- $base: failed ($(grep -m 1 '^exit ' "$file" || echo 'no exit line'))"
    fi
    if grep -q 'NOT QUIET' "$file"; then
        echo "- $base: the machine was not quiet before the run"
    fi
    if awk '$1 == "lost" && ($4 != 0 || $6 != 0) { found = 1 } END { exit !found }' "$file"; then
        echo "- $base: $(grep -m 1 '^  lost' "$file" | sed 's/^ *//')"
    fi
    grep -E '^  (warning|failure) ' "$file" | sed -E "s/^ *(warning|failure) +/- $base: \1: /" || true
done
