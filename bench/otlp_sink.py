"""A trace collector that keeps nothing: the OTLP/HTTP endpoint the benchmark's stack exports
its spans to when it measures what tracing costs (make bench --telemetry).

It answers every export as a collector does (200, an empty ExportTraceServiceResponse), so the
stack pays all of tracing's own cost (spans made, batched, encoded and sent) and none of a
collector's; it counts the requests and bytes it was sent, which the benchmark reports.

    python -m bench.otlp_sink PORT
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_lock = threading.Lock()
_received = {"exports": 0, "bytes": 0}


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the exporter keeps its connection

    def do_POST(self) -> None:  # the name http.server calls
        size = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(size)
        with _lock:
            _received["exports"] += 1
            _received["bytes"] += size
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # what it was sent, for the report
        with _lock:
            body = json.dumps(_received).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
