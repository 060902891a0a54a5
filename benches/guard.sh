#!/usr/bin/env bash
# `make perf-guard` (part of `make test`): the full stack's instructions per
# request, counted by callgrind in-process, against benches/guard-baseline.txt.
# Not a timed test: instruction counts do not depend on the machine's load.
# It counts the request thread only (see `count`), so the exporter thread's
# encoding and sending are not guarded here; `make bench` measures them.
#
# It counts the debug build that `make build` made already (bench-driver and
# bench-sink), so it adds no compilation to `make test`; a debug build's
# count is not the release figure of docs/performance.md, but it moves with
# the code the same way. Spans, Sentry envelopes and DogStatsD datagrams go
# to bench-sink on loopback, as in `make bench`'s load runs.
#
# Fails when the count exceeds the baseline by more than GUARD_TOLERANCE
# percent (default 5). GUARD_BLESS=1 writes the measured count as the new
# baseline (after a deliberate change, or a new toolchain: the count depends
# on the compiler). Knobs: GUARD_N1, GUARD_N2 (requests of the two runs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=$CARGO_TARGET_DIR/perf-guard
BIN=$CARGO_TARGET_DIR/debug
BASELINE=$ROOT/benches/guard-baseline.txt
VARIANT=treebeard-full
N1=${GUARD_N1:-100}
N2=${GUARD_N2:-400}
TOLERANCE=${GUARD_TOLERANCE:-5}
LOAD_CORE=0

source "$ROOT/benches/lib.sh"
command -v valgrind >/dev/null || die "valgrind is missing (apt-get install -y valgrind)"
for bin in bench-driver bench-sink; do
    [[ -x $BIN/$bin ]] || die "$BIN/$bin is missing: run \`make build\` first"
done
# Only the CPU-affinity helper of lib.sh's start_sinks needs taskset.
command -v taskset >/dev/null || taskset() { shift 2; "$@"; }

rm -rf "$OUT"
mkdir -p "$OUT"
start_sinks "$BIN/bench-sink"
AGENT_PORT=$HTTP_PORT
export_monitoring_env
export DD_TRACE_RATE_LIMIT=100000

# Instructions of the thread that serves the requests (the driver's
# current-thread runtime, thread 1). The exporter and log-writer threads are
# left out: they work on timers, so how often they run in a callgrind run
# depends on its wall-clock time (±12 % per request in a debug build).
count() { # n
    BENCH_UNDER_VALGRIND=1 valgrind --tool=callgrind --separate-threads=yes \
        --callgrind-out-file="$OUT/$1.out" \
        "$BIN/bench-driver" "$VARIANT" inproc "$1" >/dev/null 2>"$OUT/$1.log" ||
        die "callgrind run failed (see $OUT/$1.log)"
    awk '/^(summary|totals):/{print $2; exit}' "$OUT/$1.out-01"
}

started=$SECONDS
i1=$(count "$N1")
i2=$(count "$N2")
per_req=$(((i2 - i1) / (N2 - N1)))
if [[ -n ${GUARD_BLESS:-} ]]; then
    printf '%s %s\n' "$VARIANT" "$per_req" >"$BASELINE"
    echo "perf-guard: baseline set to $per_req instructions/request (debug build)"
    exit 0
fi
[[ -f $BASELINE ]] || die "$BASELINE is missing: run GUARD_BLESS=1 $0"
baseline=$(awk -v v="$VARIANT" '$1==v{print $2}' "$BASELINE")
limit=$((baseline * (100 + TOLERANCE) / 100))
change=$(python3 -c "print(f'{($per_req - $baseline) / $baseline * 100:+.1f}')")
echo "perf-guard: $VARIANT $per_req instructions/request (debug build, in-process), baseline $baseline ($change %), limit $limit; $((SECONDS - started)) s"
if ((per_req > limit)); then
    die "$VARIANT costs more than ${TOLERANCE} % over the baseline: profile it (callgrind_annotate $OUT/$N2.out-01), or, for a deliberate change, GUARD_BLESS=1 $0 and commit benches/guard-baseline.txt"
fi
if ((per_req * 100 < baseline * (100 - 2 * TOLERANCE))); then
    echo "perf-guard: well below the baseline; lower it with GUARD_BLESS=1 $0 to keep the guard tight"
fi
