#!/usr/bin/env bash
# `make bench`: every variant of bench-driver, measured side by side.
#
#   instr/req  callgrind (all threads), (I(N2) - I(N1)) / (N2 - N1), in-process
#   allocs/req calls to malloc/realloc in the same two runs, per request
#   CPU, req/s, p50/p99, peak RSS, spans/req (received by bench-sink)
#              the driver served on core 0, wrk -t1 -c32 on core 1
#   example    example-api's GET /users/{id}: monitoring on vs MONITORING_ENABLED=false
#              (served for wrk; in-process through bench-driver example-on/-off)
#
# Writes target/bench/results.md (and the raw callgrind/wrk output beside it),
# ending with the issue's targets: measured value, limit, PASS or FAIL
# (benches/targets.py).
# Knobs: BENCH_VARIANTS, BENCH_N1, BENCH_N2, BENCH_DURATION, BENCH_CONNECTIONS,
# BENCH_REPEAT (wrk runs per server, the median is kept; default 3),
# BENCH_INSTR_ONLY=1 (instructions and profiles only: no load, no example),
# BENCH_PROFILED (the variants given a per-request profile; default
# "treebeard-full hand-assembled").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=$CARGO_TARGET_DIR/bench
SERVER_CORE=0
LOAD_CORE=1
N1=${BENCH_N1:-500}
N2=${BENCH_N2:-2500}
DURATION=${BENCH_DURATION:-5s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
REPEAT=${BENCH_REPEAT:-3}
VARIANTS=${BENCH_VARIANTS:-"bare hand-assembled treebeard-full treebeard-full-otel treebeard-sentry-traces treebeard-console treebeard-disabled treebeard-disabled-layer layer-request-id layer-request-log layer-catch-panic layer-apm layer-metrics layer-sentry"}
PROFILED=${BENCH_PROFILED:-"treebeard-full hand-assembled"}
INSTR_ONLY=${BENCH_INSTR_ONLY:-}

source "$ROOT/benches/lib.sh"
for tool in valgrind callgrind_annotate wrk taskset curl python3; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y wrk valgrind)"
done
(($(nproc) >= 2)) || die "needs 2 cores: the server on one, wrk on the other"

started=$SECONDS
cargo build --release -p treebeard-bench -p example-api
DRIVER=$CARGO_TARGET_DIR/release/bench-driver
EXAMPLE=$CARGO_TARGET_DIR/release/example-api
rm -rf "$OUT"
mkdir -p "$OUT/callgrind" "$OUT/wrk"
ROWS=$OUT/rows.tsv
: >"$ROWS"

LOADAVG_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
start_agent
# The test agent receives the spans of the callgrind runs; bench-sink those
# of the load runs (the Python agent would take wrk's core), and the Sentry
# envelopes and DogStatsD datagrams of both. It answers /info like the agent.
curl -sf -m 30 "http://127.0.0.1:$AGENT_PORT/info" >"$OUT/agent-info.json" || die "the agent's /info failed"
start_sinks "$CARGO_TARGET_DIR/release/bench-sink" --info "$OUT/agent-info.json"
export_monitoring_env
SINK_URL="http://127.0.0.1:$HTTP_PORT"
# DataDog keeps at most DD_TRACE_RATE_LIMIT traces a second (default 100),
# whatever the sample rate: at bench load that would export a small share of
# the traces and measure mostly the cheaper drop path. Every trace is
# exported here, the worst case (BENCH_RATE_LIMIT=100 measures the default).
export DD_TRACE_RATE_LIMIT=${BENCH_RATE_LIMIT:-100000}
CLK_TCK=$(getconf CLK_TCK)

# Instructions of one in-process run (all threads).
instructions() { # variant n
    local log="$OUT/callgrind/$1.$2.log"
    BENCH_UNDER_VALGRIND=1 valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind/$1.$2.out" \
        "$DRIVER" "$1" inproc "$2" >/dev/null 2>"$log" || die "callgrind run of $1 failed (see $log)"
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$log"
}

# Loads a running server BENCH_REPEAT times (default 3) and prints the row
# of the run with the median req/s:
# "cpu_us_per_req req_per_s p50 p99 peak_rss_kb errors requests". One run of
# this shared machine can be 25 % off; the median of three rarely is.
load() { # name pid url
    local name=$1 pid=$2 url=$3 i before after hwm
    taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d1s "$url" >"$OUT/wrk/$name.0.txt" # warm-up
    for ((i = 1; i <= REPEAT; i++)); do
        before=$(cpu_ticks "$pid")
        taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$url" >"$OUT/wrk/$name.$i.txt"
        after=$(cpu_ticks "$pid")
        hwm=$(mem_kb "$pid" VmHWM)
        python3 "$ROOT/benches/wrk_parse.py" "$OUT/wrk/$name.$i.txt" "$((after - before))" "$CLK_TCK" "$hwm"
    done | sort -t$'\t' -k2,2n | sed -n "$(((REPEAT + 1) / 2))p" |
        awk -v OFS='\t' -v hwm="$(mem_kb "$pid" VmHWM)" '{$5 = hwm; print}' # peak over all runs
}

stop() { # pid
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

sink_spans() { sink_counts | python3 -c 'import json,sys; print(json.load(sys.stdin)["spans"])'; }

# Spans bench-sink received per request served (warm-up included), since
# `sink_spans` printed $1; call after the server stopped (it flushes then).
spans_per_request() { # spans_before name
    local requests
    requests=$(awk '/requests in/{n += $1} END{print n}' "$OUT/wrk/$2".[0-9]*.txt)
    python3 -c "import sys; print(f'{($(sink_spans) - $1) / $requests:.3f}')"
}

for v in $VARIANTS; do
    echo "== $v" >&2
    i1=$(instructions "$v" "$N1")
    i2=$(instructions "$v" "$N2")
    per_req=$(((i2 - i1) / (N2 - N1)))
    allocs=$(python3 "$ROOT/benches/allocs.py" "$OUT/callgrind/$v.$N1.out" "$OUT/callgrind/$v.$N2.out" "$N1" "$N2")
    printf '%s\t%s\n' "$v" "$allocs" >>"$OUT/allocs.tsv"
    echo "   instructions/request: $per_req, allocations/request: $allocs" >&2
    if [[ -n $INSTR_ONLY ]]; then
        printf '%s\t%s\t%s\n' "$v" "$per_req" "$allocs" >>"$ROWS"
        continue
    fi

    log="$OUT/wrk/$v.server.log"
    spans=$(sink_spans)
    DD_TRACE_AGENT_URL=$SINK_URL taskset -c "$SERVER_CORE" "$DRIVER" "$v" serve >/dev/null 2>"$log" &
    pid=$!
    PIDS+=("$pid")
    deadline=$((SECONDS + 30))
    until grep -q '^LISTENING ' "$log"; do
        ((SECONDS < deadline)) && kill -0 "$pid" 2>/dev/null || die "$v did not start (see $log)"
        sleep 0.1
    done
    addr=$(awk '/^LISTENING /{print $2}' "$log")
    stats=$(load "$v" "$pid" "http://$addr/json")
    stop "$pid"
    stats+=$'\t'$(spans_per_request "$spans" "$v")
    echo "   $stats" >&2
    printf '%s\t%s\t%s\n' "$v" "$per_req" "$stats" >>"$ROWS"
done

# Profiles: the raw annotations of the N2 run, and per-request inclusive
# costs (N2 run minus N1 run), which leave start-up out.
for v in $PROFILED; do
    [[ -f $OUT/callgrind/$v.$N2.out ]] || continue
    for n in "$N1" "$N2"; do
        callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$OUT/callgrind/$v.$n.out" \
            >"$OUT/callgrind/$v.$n.inclusive.txt" 2>/dev/null || true
    done
    cp "$OUT/callgrind/$v.$N2.inclusive.txt" "$OUT/$v.inclusive.txt"
    callgrind_annotate --auto=no "$OUT/callgrind/$v.$N2.out" >"$OUT/$v.exclusive.txt" 2>/dev/null || true
    python3 "$ROOT/benches/profile_diff.py" "$OUT/callgrind/$v.$N1.inclusive.txt" \
        "$OUT/callgrind/$v.$N2.inclusive.txt" "$N1" "$N2" 80 >"$OUT/$v.per-request.txt"
done

if [[ -n $INSTR_ONLY ]]; then
    column -t "$ROWS"
    # The issue's targets this run measured (the load figures need a full run).
    python3 "$ROOT/benches/targets.py" "$ROWS" | tee "$OUT/targets.md"
    exit 0
fi

# The example API's real route, same binary, monitoring on and off.
for mode in monitoring-on monitoring-off; do
    echo "== example-api $mode" >&2
    port=$(free_port)
    log="$OUT/wrk/example-$mode.server.log"
    if [[ $mode == monitoring-off ]]; then enabled=false; else enabled=true; fi
    spans=$(sink_spans)
    DD_TRACE_AGENT_URL=$SINK_URL MONITORING_ENABLED=$enabled PORT=$port \
        taskset -c "$SERVER_CORE" "$EXAMPLE" >/dev/null 2>"$log" &
    pid=$!
    PIDS+=("$pid")
    wait_tcp 127.0.0.1 "$port" 30 || die "example-api did not start (see $log)"
    stats=$(load "example-$mode" "$pid" "http://127.0.0.1:$port/users/1")
    stop "$pid"
    stats+=$'\t'$(spans_per_request "$spans" "example-$mode")
    # The same route in-process (bench-driver's example-on/example-off).
    v=example-${mode#monitoring-}
    i1=$(instructions "$v" "$N1")
    i2=$(instructions "$v" "$N2")
    allocs=$(python3 "$ROOT/benches/allocs.py" "$OUT/callgrind/$v.$N1.out" "$OUT/callgrind/$v.$N2.out" "$N1" "$N2")
    printf '%s\t%s\n' "example-$mode" "$allocs" >>"$OUT/allocs.tsv"
    echo "   $stats; instructions/request: $(((i2 - i1) / (N2 - N1))), allocations/request: $allocs" >&2
    printf '%s\t%s\t%s\n' "example-$mode" "$(((i2 - i1) / (N2 - N1)))" "$stats" >>"$ROWS"
done

echo "sinks received: $(sink_counts)" >"$OUT/sinks.txt"
elapsed=$((SECONDS - started))
python3 "$ROOT/benches/report.py" "$ROWS" "$N1" "$N2" "$DURATION" "$CONNECTIONS" "$elapsed" \
    "$LOADAVG_BEFORE" "$REPEAT" >"$OUT/results.md"
{
    echo
    echo "## Targets"
    echo
    python3 "$ROOT/benches/targets.py" "$ROWS"
} >>"$OUT/results.md"
cat "$OUT/results.md"
echo "results: $OUT/results.md; profiles: $OUT/*.inclusive.txt" >&2
