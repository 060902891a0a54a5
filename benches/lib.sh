# Shared by run.sh and soak.sh: the peers (DataDog's test agent, the UDP and
# HTTP sinks), free ports, and reading a process's CPU and memory.
# Source it after setting ROOT and OUT; it installs an EXIT trap that stops
# every process it started (by PID).

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

die() { echo "bench: $*" >&2; exit 1; }

# A port that was free a moment ago.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_tcp() { # host port seconds
    local deadline=$((SECONDS + $3))
    until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# Starts ddapm-test-agent on free ports, on the load generator's core.
# Sets AGENT_PORT, AGENT_PID. Call again to restart on the same ports.
# The agent runs without DD_TRACE_AGENT_URL / DD_AGENT_URL: it reads them as
# "forward everything to this agent", and after export_monitoring_env they
# point at its own port, so a restarted agent would forward every request to
# itself, recursively, until it runs out of file descriptors.
start_agent() {
    local agent="$ROOT/.venv/bin/ddapm-test-agent"
    [[ -x $agent ]] || die "$agent is missing: run \`make peers-install\`"
    : "${AGENT_PORT:=$(free_port)}" "${AGENT_OTLP_PORT:=$(free_port)}" "${AGENT_GRPC_PORT:=$(free_port)}"
    mkdir -p "$OUT/agent-snapshots"
    env -u DD_TRACE_AGENT_URL -u DD_AGENT_URL \
        ENABLED_CHECKS=trace_count_header,meta_tracer_version_header,trace_content_length \
        taskset -c "$LOAD_CORE" "$agent" --host 127.0.0.1 --port "$AGENT_PORT" \
        --otlp-http-port "$AGENT_OTLP_PORT" --otlp-grpc-port "$AGENT_GRPC_PORT" \
        --snapshot-dir "$OUT/agent-snapshots" >"$OUT/agent.log" 2>&1 &
    AGENT_PID=$!
    PIDS+=("$AGENT_PID")
    wait_tcp 127.0.0.1 "$AGENT_PORT" 30 || die "ddapm-test-agent did not start (see $OUT/agent.log)"
}

stop_agent() {
    kill -KILL "$AGENT_PID" 2>/dev/null || true
    wait "$AGENT_PID" 2>/dev/null || true
}

# Counters from the tracer's own instrumentation telemetry that the agent
# holds (all sessions), as JSON: spans created, chunks sent, chunks dropped by
# sampling (p0) or because the tracer's buffer was full, ...
agent_telemetry() {
    curl -sf -m 60 "http://127.0.0.1:$AGENT_PORT/test/session/apmtelemetry" |
        python3 "$ROOT/benches/telemetry_counts.py" 2>/dev/null || echo '{}'
}

# Spans the agent holds (all sessions).
agent_spans() {
    curl -sf -m 60 "http://127.0.0.1:$AGENT_PORT/test/session/traces" |
        python3 -c 'import json,sys; print(sum(len(t) for t in json.load(sys.stdin)))' 2>/dev/null || echo 0
}

# Starts the UDP and HTTP sinks on the load generator's core: the command
# given, or benches/sinks.py, with the ports file as its last argument.
# Sets UDP_PORT, HTTP_PORT.
start_sinks() {
    local ports="$OUT/sinks.ports"
    rm -f "$ports"
    if (($# == 0)); then set -- python3 "$ROOT/benches/sinks.py"; fi
    taskset -c "$LOAD_CORE" "$@" "$ports" &
    PIDS+=("$!")
    local deadline=$((SECONDS + 10))
    until [[ -s $ports ]] && grep -q HTTP "$ports"; do
        ((SECONDS < deadline)) || die "sinks did not start"
        sleep 0.1
    done
    UDP_PORT=$(awk '$1=="UDP"{print $2}' "$ports")
    HTTP_PORT=$(awk '$1=="HTTP"{print $2}' "$ports")
}

sink_counts() { curl -sf -m 5 "http://127.0.0.1:$HTTP_PORT/counts"; }

# The monitoring environment every TreeBeard variant reads.
export_monitoring_env() {
    export APM_PROVIDER=datadog
    export DD_TRACE_AGENT_URL="http://127.0.0.1:$AGENT_PORT"
    export DD_SERVICE=treebeard-bench DD_ENV=bench DD_VERSION=0.1.0
    export DD_TRACE_SAMPLE_RATE=1.0 DD_LOGS_INJECTION=true
    export METRICS_BACKEND=datadog DD_AGENT_HOST=127.0.0.1 DD_DOGSTATSD_PORT="$UDP_PORT"
    export SENTRY_DSN="http://public@127.0.0.1:$HTTP_PORT/1"
    export RUST_LOG=info
    # Panics keep their backtraces, but library errors (anyhow, which the
    # tracer's HTTP client uses) capture none: with RUST_BACKTRACE=1 alone,
    # the first agent connection error logged symbolizes a backtrace, and
    # std's symbolizer keeps the binary's debug info in memory for good
    # (+126 MB RSS for example-api; see docs/apm.md).
    export RUST_BACKTRACE=1 RUST_LIB_BACKTRACE=0
    unset MONITORING_ENABLED DD_TRACE_AGENT_PORT DD_DOGSTATSD_URL SENTRY_TRACES_SAMPLE_RATE
}

# utime+stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# A field of /proc/<pid>/status in kB (VmHWM: peak RSS, VmRSS: current).
mem_kb() { awk -v f="$2:" '$1==f{print $2}' "/proc/$1/status"; }
