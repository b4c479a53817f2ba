"""A loopback OTLP/HTTP backend for the peer benchmark: accepts trace exports the way Langfuse's
/api/public/otel/v1/traces does (protobuf, optionally gzip), counts the spans it received, and
answers with an empty ExportTraceServiceResponse. `GET /count` returns the count so far as JSON;
`POST /reset` sets it to zero. Both the Langfuse Python SDK and aitrace export here, so both pay the
same backend.

Usage: python sink.py PORT  (prints "ready" once listening)
"""

import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

_lock = threading.Lock()
_received = {"spans": 0, "requests": 0, "bytes": 0, "bad": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with _lock:
            body = json.dumps(_received).encode()
        self._answer(200, body, "application/json")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.path == "/reset":
            with _lock:
                for k in _received:
                    _received[k] = 0
            self._answer(200, b"{}", "application/json")
            return
        try:
            if self.headers.get("Content-Encoding", "") == "gzip":
                body = gzip.decompress(body)
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            spans = sum(
                len(scope.spans)
                for resource in request.resource_spans
                for scope in resource.scope_spans
            )
        except Exception:  # a payload Langfuse would reject: count it, answer 400
            with _lock:
                _received["bad"] += 1
            self._answer(400, b"bad request", "text/plain")
            return
        with _lock:
            _received["spans"] += spans
            _received["requests"] += 1
            _received["bytes"] += length
        self._answer(
            200,
            ExportTraceServiceResponse().SerializeToString(),
            "application/x-protobuf",
        )


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
