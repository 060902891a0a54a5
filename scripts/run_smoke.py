#!/usr/bin/env python3
"""`make run` as README.md tells a new user to start it: the example API
serves its health check, a route and the dev console, writes a JSON
request line, and stops on SIGTERM. Run by `make test` (after `make
build`, so nothing is compiled here but what `cargo run` finds stale).

Exit 0 when all of that holds; otherwise 1, naming what failed, with the
tail of the server's output.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

START_TIMEOUT_S = 300  # `cargo run` may link the binary once more
STOP_TIMEOUT_S = 15


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def main() -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PORT=str(port), HOST="127.0.0.1")
    with tempfile.TemporaryFile() as out:
        server = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def fail(what: str) -> int:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
            out.seek(0)
            tail = out.read().decode(errors="replace").splitlines()[-30:]
            print(f"make run: {what}", file=sys.stderr)
            print("\n".join(tail), file=sys.stderr)
            return 1

        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if server.poll() is not None:
                return fail(f"exited with {server.returncode} before serving")
            try:
                if get(f"{base}/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                return fail(f"{base}/health did not answer in {START_TIMEOUT_S} s")
            time.sleep(0.5)

        status, headers, _ = get(f"{base}/users/1")
        if status != 200:
            return fail(f"GET /users/1 answered {status}")
        request_id = headers.get("x-request-id") or headers.get("X-Request-ID")
        if not request_id:
            return fail("GET /users/1 has no X-Request-ID header")
        status, _, body = get(f"{base}/_treebeard")
        if status != 200 or b"<html" not in body.lower():
            return fail(f"the dev console answered {status}, not its page")

        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return fail(f"still running {STOP_TIMEOUT_S} s after SIGTERM")

        out.seek(0)
        lines = []
        for line in out.read().decode(errors="replace").splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue  # make's and cargo's own lines
        if not any(
            isinstance(record, dict)
            and record.get("http.route") == "/users/{id}"
            and record.get("request_id") == request_id
            for record in lines
        ):
            return fail(f"no JSON request line for /users/1 with request_id {request_id}")
    print(f"make run: served /health, /users/1 ({request_id}) and the dev console; stopped on SIGTERM")
    return 0


if __name__ == "__main__":
    sys.exit(main())
