#!/usr/bin/env python3
"""Local receivers for the benchmarks: a UDP sink for DogStatsD datagrams and
an HTTP sink that answers 200 to anything (a stand-in Sentry endpoint whose
only job is to accept envelopes fast).

Both bind 127.0.0.1:0; the chosen ports are written to PORTS_FILE as
`UDP <port>` and `HTTP <port>` lines. `GET /counts` on the HTTP port returns
what was received so far as JSON (the counting request is not counted).
"""
import http.server
import json
import socket
import sys
import threading

counts = {"udp_datagrams": 0, "udp_bytes": 0, "http_requests": 0, "http_bytes": 0}
lock = threading.Lock()


def udp_loop(sock):
    while True:
        data = sock.recv(65536)
        with lock:
            counts["udp_datagrams"] += 1
            counts["udp_bytes"] += len(data)


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, body=b"{}"):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with lock:
            counts["http_requests"] += 1
            counts["http_bytes"] += len(body)
        self._answer()

    def do_GET(self):
        if self.path == "/counts":
            with lock:
                body = json.dumps(counts).encode()
            self._answer(body)
        else:
            self._answer()

    def log_message(self, *args):
        pass


def main():
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    udp.bind(("127.0.0.1", 0))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    server.daemon_threads = True
    with open(sys.argv[1], "w") as f:
        f.write(f"UDP {udp.getsockname()[1]}\nHTTP {server.server_address[1]}\n")
    threading.Thread(target=udp_loop, args=(udp,), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
