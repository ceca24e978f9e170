#!/usr/bin/env bash
# Usage: benches/scripts/cluster.sh
#
# The cluster table of BENCHMARKS.md (issue 17): the same 1,000 clients held by one node and by two nodes sharing
# the chat through Redis, fan-out closed loop (10 senders, 64 B, 10 s) and at --rate 100; plus the same load on a
# node without --cluster, for what the cluster itself costs. charla-bench spreads the clients over the nodes
# (--target a,b) and sums their CPU (--server-pid p1,p2); Redis's own CPU over the run is read from /proc.
#
# Each run gets a fresh redis-server (loopback, a free port, no persistence, in a `mktemp -d` directory) and fresh
# nodes, all stopped by PID. Then, once, 10,000 idle users on two nodes for 30 s: what holding names costs Redis. On this 2-core machine the nodes and Redis share CPU 0 and the tool has CPU 1, so two
# nodes cannot show more deliveries per second than one: what the table shows is what a delivery costs (CPU per
# 1,000 deliveries, summed over the nodes and per node) and what a message costs Redis.
#
# Environment: REPS=N (default 3), QUICK=1 (2 s runs), RESULTS_DIR (default: a fresh `mktemp -d`, printed),
# QUIET_MAX (seconds to wait for a quiet machine, default 300), SERVER_CPU (0), TOOL_CPU (1).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install redis-server)"
reps=${REPS:-3}
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive number"
duration=10
[ "${QUICK:-0}" = 1 ] && duration=2
if [ -z "${RESULTS_DIR:-}" ]; then
    RESULTS_DIR=$(mktemp -d -t charla-cluster-results.XXXXXX)
    echo "results in $RESULTS_DIR" >&2
fi
mkdir -p "$RESULTS_DIR"
build_release

tmp=""
pids=()
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    # Nodes first (they say goodbye through Redis), Redis last.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_pid "${pids[i]}"; done
    pids=()
    [ -z "$tmp" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Utime plus stime of process $1, in clock ticks.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# Waits (at most QUIET_MAX s) until at most 5% of all CPUs were busy over 2 s.
wait_quiet() {
    local waited=0 a b threshold
    threshold=$(($(nproc) * $(getconf CLK_TCK) * 2 / 20))
    while :; do
        a=$(busy_jiffies)
        sleep 2
        b=$(busy_jiffies)
        [ $((b - a)) -le "$threshold" ] && return 0
        waited=$((waited + 2))
        [ "$waited" -lt "${QUIET_MAX:-300}" ] || return 0
    done
}

# run NAME SETUP TOOL-ARGS...: SETUP is standalone, one or two; appends the tool's report and Redis's CPU to
# $RESULTS_DIR/NAME.txt.
run() {
    local name=$1 setup=$2 addrs=() nodes=1 redis_pid="" redis_url="" before after port
    shift 2
    tmp=$(mktemp -d -t charla-cluster.XXXXXX)
    wait_quiet
    [ "$setup" = two ] && nodes=2
    if [ "$setup" != standalone ]; then
        port=$(free_port) || die "no free port for Redis"
        pinned "$SERVER_CPU" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
            --dir "$tmp" >"$tmp/redis.log" 2>&1 &
        redis_pid=$!
        pids+=("$redis_pid")
        wait_for_line "$tmp/redis.log" "$redis_pid" 'Ready to accept connections' 10 >/dev/null ||
            die "redis-server did not start: $(tail -n 5 "$tmp/redis.log")"
        redis_url=redis://127.0.0.1:$port
    fi
    local node_pids=()
    for ((n = 1; n <= nodes; n++)); do
        local cluster=()
        [ -z "$redis_url" ] || cluster=(--cluster "$redis_url" --node-name "node$n")
        pinned "$SERVER_CPU" "$CHARLA_SERVER" --listen 127.0.0.1:0 --history-file "$tmp/history$n.json" \
            --flood-rate 0 --max-clients 20000 "${cluster[@]}" >"$tmp/node$n.out" 2>"$tmp/node$n.err" &
        pids+=($!)
        node_pids+=($!)
        local addr
        addr=$(first_line_addr "$tmp/node$n.out" "$!") || die "node $n did not start: $(tail -n 5 "$tmp/node$n.err")"
        addrs+=("$addr")
        if [ -n "$redis_url" ]; then
            wait_for_line "$tmp/node$n.err" "$!" 'cluster: connected to Redis' 10 >/dev/null ||
                die "node $n did not reach Redis: $(tail -n 5 "$tmp/node$n.err")"
        fi
    done
    local targets pid_list
    targets=$(IFS=,; echo "${addrs[*]}")
    pid_list=$(IFS=,; echo "${node_pids[*]}")
    local cmd=("$CHARLA_BENCH" "$@" --target "$targets" --server-pid "$pid_list")
    [ -z "$redis_pid" ] || before=$(cpu_ticks "$redis_pid")
    {
        echo "\$ taskset -c $TOOL_CPU ${cmd[*]}"
        echo "# cluster.sh $name: $setup; server $CHARLA_SERVER; $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
        (pinned "$TOOL_CPU" timeout --foreground 600 "${cmd[@]}") 2>&1 || echo "tool exit $?"
        if [ -n "$redis_pid" ]; then
            after=$(cpu_ticks "$redis_pid")
            awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
                'BEGIN { printf "redis CPU                %.2f s over the whole run (joining and running)\n", t / hz }'
        fi
        for ((n = 1; n <= nodes; n++)); do
            grep -E ' (WARN|ERROR) ' "$tmp/node$n.err" | grep -v 'open-files limit' | head -n 5 | sed "s/^/node$n: /" || true
        done
        echo
    } >"$tmp/run.txt"
    cat "$tmp/run.txt" >>"$RESULTS_DIR/$name.txt"
    cat "$tmp/run.txt"
    cleanup
}

common=(fanout --clients 1000 --senders 10 --size 64 --duration "$duration")
for ((rep = 1; rep <= reps; rep++)); do
    for setup in standalone one two; do
        run "closed-$setup" "$setup" "${common[@]}" --closed-loop
        run "rate100-$setup" "$setup" "${common[@]}" --rate 100
    done
done

# What names cost Redis with nobody talking: 10,000 users on two nodes for 30 s, each name claimed once and
# released at the end, held meanwhile by its node's key (set every 2 s).
run idle-two two connect --clients 10000 --hold 30 --concurrency 100

# The table: medians over the repetitions.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "| scenario | setup | deliveries/s | p99 ms | CPU/1000 deliveries, all nodes (ms) | per node (ms) | Redis CPU per message (µs) |"
echo "|---|---|---|---|---|---|---|"
for scenario in closed rate100; do
    for setup in standalone one two; do
        f=$RESULTS_DIR/$scenario-$setup.txt
        nodes=1
        [ "$setup" = two ] && nodes=2
        dps=$(awk '/^  deliveries\/s/ { print $2 }' "$f" | median)
        p99=$(awk '/^── fanout/ { f = 1 } f && /^  latency/ { for (i = 1; i <= NF; i++) if ($i == "p99") print $(i + 1); f = 0 }' "$f" | median)
        cpu=$(awk '/CPU per 1000 deliveries/ { print $(NF - 1) }' "$f" | median)
        per_node=$(awk -v c="$cpu" -v n=$nodes 'BEGIN { printf "%.3f", c / n }')
        redis=$(awk '/^  messages sent/ { m = $3 } /^redis CPU/ { if (m > 0) printf "%.1f\n", $3 * 1e6 / m }' "$f" | median)
        echo "| $scenario | $setup | $dps | $p99 | $cpu | $per_node | $redis |"
    done
done
awk '/^redis CPU/ { printf "\nRedis CPU for 10,000 idle users on two nodes over a 30 s hold (claims, node keys, releases): %s s\n", $3 }' \
    "$RESULTS_DIR/idle-two.txt"
