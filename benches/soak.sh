#!/usr/bin/env bash
# `make soak`: the example API under steady load for SOAK_SECONDS (default
# 300) with the APM test agent and the UDP/HTTP sinks up; the agent is killed
# halfway and restarted SOAK_OUTAGE seconds later (default 10). Reports wrk's
# request errors, the server's RSS every 30 s, and spans received by the
# agent vs requests sent. Not part of `make test`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=$CARGO_TARGET_DIR/soak
SERVER_CORE=0
LOAD_CORE=1
SOAK_SECONDS=${SOAK_SECONDS:-300}
SOAK_OUTAGE=${SOAK_OUTAGE:-10}
SOAK_CONNECTIONS=${SOAK_CONNECTIONS:-8}
export SOAK_DELAY_MS=${SOAK_DELAY_MS:-20}
SAMPLE_EVERY=30

source "$ROOT/benches/lib.sh"
for tool in wrk taskset curl python3; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y wrk)"
done

# Same package set as run.sh, so both reuse one set of release artifacts.
cargo build --release -p treebeard-bench -p example-api
rm -rf "$OUT"
mkdir -p "$OUT"
start_agent
start_sinks
export_monitoring_env

port=$(free_port)
PORT=$port taskset -c "$SERVER_CORE" "$CARGO_TARGET_DIR/release/example-api" >"$OUT/example.log" 2>&1 &
pid=$!
PIDS+=("$pid")
wait_tcp 127.0.0.1 "$port" 30 || die "example-api did not start (see $OUT/example.log)"

taskset -c "$LOAD_CORE" wrk -t1 -c"$SOAK_CONNECTIONS" -d"${SOAK_SECONDS}s" --latency \
    -s "$ROOT/benches/soak.lua" "http://127.0.0.1:$port" >"$OUT/wrk.txt" 2>&1 &
wrk_pid=$!
PIDS+=("$wrk_pid")

RSS=$OUT/rss.tsv
printf 't_s\trss_kb\n' >"$RSS"
kill_at=$((SOAK_SECONDS / 2))
spans_before_kill=0
start=$SECONDS
next_sample=0
killed=no
while kill -0 "$wrk_pid" 2>/dev/null; do
    t=$((SECONDS - start))
    if ((t >= next_sample)); then
        printf '%s\t%s\n' "$t" "$(mem_kb "$pid" VmRSS)" | tee -a "$RSS" >&2
        next_sample=$((next_sample + SAMPLE_EVERY))
    fi
    if [[ $killed == no ]] && ((t >= kill_at)); then
        spans_before_kill=$(agent_spans)
        echo "t=${t}s: killing the agent ($spans_before_kill spans received so far)" >&2
        stop_agent
        sleep "$SOAK_OUTAGE"
        start_agent
        echo "t=$((SECONDS - start))s: agent restarted" >&2
        killed=yes
    fi
    sleep 1
done
wait "$wrk_pid" || true
printf '%s\t%s\n' "$((SECONDS - start))" "$(mem_kb "$pid" VmRSS)" | tee -a "$RSS" >&2
peak_kb=$(mem_kb "$pid" VmHWM)

# Let the exporter deliver, then stop the server (which flushes) and count.
sleep 3
kill -TERM "$pid"
wait "$pid" || true
sleep 1
spans_after_restart=$(agent_spans)
sinks=$(sink_counts || echo '{}')

python3 - "$OUT/wrk.txt" "$RSS" "$spans_before_kill" "$spans_after_restart" "$peak_kb" "$sinks" \
    "$SOAK_SECONDS" "$SOAK_OUTAGE" <<'PY' | tee "$OUT/report.md"
import json, re, sys
wrk_path, rss_path, before, after, peak_kb, sinks, seconds, outage = sys.argv[1:]
text = open(wrk_path).read()
requests = int(re.search(r"(\d+) requests in", text).group(1))
socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
socket_errors = sum(int(g) for g in socket.groups()) if socket else 0
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
non2xx = int(non2xx.group(1)) if non2xx else 0
p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1)
rss = [line.split("\t") for line in open(rss_path).read().splitlines()[1:]]
received = int(before) + int(after)
print(f"# Soak: {seconds} s of load, agent down for {outage} s halfway\n")
print(f"- requests sent: {requests} (p99 {p99}); socket errors: {socket_errors}; non-2xx: {non2xx}")
print(f"- spans received by the agent: {received} ({before} before the kill + {after} after the restart), "
      f"{received / max(requests, 1):.2f} per request")
print(f"- sinks (DogStatsD datagrams, Sentry envelopes): {sinks}")
print(f"- peak RSS: {int(peak_kb) / 1024:.1f} MB; RSS over time (MB):")
print("  " + ", ".join(f"{t}s {int(kb) / 1024:.1f}" for t, kb in rss))
growth = (int(rss[-1][1]) - int(rss[1][1])) / 1024 if len(rss) > 2 else 0.0
print(f"- RSS growth from the 30 s sample to the end: {growth:+.1f} MB")
PY
