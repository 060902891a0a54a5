#!/usr/bin/env bash
# `make soak`: the example API under steady load for SOAK_SECONDS (default
# 300) with the APM test agent and the UDP/HTTP sinks up; the agent is killed
# halfway and restarted SOAK_OUTAGE seconds later (default 10). Reports wrk's
# request errors, the server's RSS, open fds and connections to the agent
# every 30 s, spans received by the agent vs requests sent, and what the
# tracer says it lost (dd-trace-rs: its telemetry; treebeard's own exporter:
# its totals at shutdown: spans lost across the outage, target 0), and the
# time from the agent's return to the first payload it accepted.
# Not part of `make test`.
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
# DataDog keeps at most DD_TRACE_RATE_LIMIT traces a second (default 100)
# whatever DD_TRACE_SAMPLE_RATE says; the soak raises it so that every
# request's trace is exported and spans per request can be checked (2.0).
export DD_TRACE_RATE_LIMIT=${SOAK_RATE_LIMIT:-1000}
# dd-trace-rs's own counters reach the agent at this interval (default 60 s).
export DD_TELEMETRY_HEARTBEAT_INTERVAL=10

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
printf 't_s\trss_kb\tfds\tagent_conns\n' >"$RSS"
# The server's open fds, and its TCP connections to the agent (any state).
sample() {
    printf '%s\t%s\t%s\t%s\n' "$1" "$(mem_kb "$pid" VmRSS)" "$(find "/proc/$pid/fd" -mindepth 1 2>/dev/null | wc -l)" \
        "$(ss -tnp state all "dport = :$AGENT_PORT" 2>/dev/null | grep -c "pid=$pid," || true)"
}
kill_at=$((SOAK_SECONDS / 2))
spans_before_kill=0
telemetry_before_kill='{}'
start=$SECONDS
next_sample=0
killed=no
agent_back=0
while kill -0 "$wrk_pid" 2>/dev/null; do
    t=$((SECONDS - start))
    if ((t >= next_sample)); then
        sample "$t" | tee -a "$RSS" >&2
        next_sample=$((next_sample + SAMPLE_EVERY))
    fi
    if [[ $killed == no ]] && ((t >= kill_at)); then
        # Telemetry first: the span count is read last, just before the kill.
        telemetry_before_kill=$(agent_telemetry)
        spans_before_kill=$(agent_spans)
        echo "t=${t}s: killing the agent ($spans_before_kill spans received so far)" >&2
        stop_agent
        sleep "$SOAK_OUTAGE"
        start_agent
        # start_agent returns once the port accepts connections.
        agent_back=$(date +%s.%N)
        echo "t=$((SECONDS - start))s: agent restarted" >&2
        killed=yes
    fi
    sleep 1
done
wait "$wrk_pid" || true
sample "$((SECONDS - start))" | tee -a "$RSS" >&2
peak_kb=$(mem_kb "$pid" VmHWM)

# Let the exporter deliver, then stop the server (which flushes) and count.
sleep 3
kill -TERM "$pid"
wait "$pid" || true
sleep 1
spans_after_restart=$(agent_spans)
telemetry_after_restart=$(agent_telemetry)
sinks=$(sink_counts || echo '{}')

python3 - "$OUT/wrk.txt" "$RSS" "$spans_before_kill" "$spans_after_restart" "$peak_kb" "$sinks" \
    "$SOAK_SECONDS" "$SOAK_OUTAGE" "$telemetry_before_kill" "$telemetry_after_restart" "$DD_TRACE_RATE_LIMIT" \
    "$OUT/example.log" "$agent_back" <<'PY' | tee "$OUT/report.md"
import collections, datetime, json, re, sys
wrk_path, rss_path, before, after, peak_kb, sinks, seconds, outage, tel_before, tel_after, rate_limit, log_path, agent_back = sys.argv[1:]
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
      f"{received / max(requests, 1):.2f} per request (2 expected; DD_TRACE_RATE_LIMIT={rate_limit})")
telemetry = collections.Counter(json.loads(tel_before)) + collections.Counter(json.loads(tel_after))
print("- tracer telemetry (what the agent received of it; the outage's own reports are lost): "
      + (", ".join(f"{k} {v}" for k, v in sorted(telemetry.items())) or "none"))
# APM_PROVIDER=datadog: the exporter's totals (logged once at shutdown),
# and the line it logs when the agent takes a payload again after failing.
totals, returned = None, None
for line in open(log_path, errors="replace"):
    if not line.startswith("{"):
        continue
    fields = json.loads(line)
    if fields.get("message") == "span export totals":
        totals = fields
    elif fields.get("message", "").startswith("the DataDog agent takes spans again") and returned is None:
        returned = fields
if totals:
    dropped = {k[len("spans_dropped_"):]: int(totals[k]) for k in totals if k.startswith("spans_dropped_")}
    sent = int(totals["spans_sent"])
    print(f"- spans lost across the outage (the exporter's count, target 0): {int(totals['spans_dropped'])} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(dropped.items()))}); "
          f"payloads retried {totals['payloads_retried']}, spans delivered late {totals['spans_sent_late']}")
    print(f"- spans the agent acknowledged (exporter): {sent}, received (agent): {received}; the difference, "
          f"{sent - received}, is what the agent had taken and lost when it was killed (its store is in memory), "
          "plus what it took after the count before the kill was read")
else:
    print("- exporter totals: none logged (APM_PROVIDER is not datadog, or the server did not shut down cleanly)")
if returned and float(agent_back) > 0:
    at = datetime.datetime.fromisoformat(returned["timestamp"].replace("Z", "+00:00")).timestamp()
    print(f"- first payload accepted {1000 * (at - float(agent_back)):.0f} ms after the agent listened again "
          f"(outage seen by the exporter: {int(returned['outage_ms']) / 1000:.1f} s, "
          f"{returned['spans_buffered']} spans / {int(returned['bytes_buffered']) / 1e6:.1f} MB buffered)")
else:
    print("- first payload accepted after the agent's return: not logged")
print(f"- sinks (DogStatsD datagrams, Sentry envelopes): {sinks}")
print(f"- peak RSS: {int(peak_kb) / 1024:.1f} MB; RSS over time (MB):")
print("  " + ", ".join(f"{r[0]}s {int(r[1]) / 1024:.1f}" for r in rss))
print(f"- server fds (max {max(int(r[2]) for r in rss)}) and connections to the agent (max {max(int(r[3]) for r in rss)}) "
      "over time: " + ", ".join(f"{r[0]}s {r[2]}/{r[3]}" for r in rss))
growth = (int(rss[-1][1]) - int(rss[1][1])) / 1024 if len(rss) > 2 else 0.0
print(f"- RSS growth from the 30 s sample to the end: {growth:+.1f} MB")
PY
