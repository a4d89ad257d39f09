"""A webhook receiver on a free loopback port, in a thread: it keeps every request it gets (with
the time it arrived) and answers each with the next status of its plan (200 once the plan is
used up), after `delay` seconds. For the events tests and bench/events.py."""

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .serving import HOST, free_port


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict
    body: bytes
    at: float  # time.time()


class Receiver:
    def __init__(self, plan=(), delay: float = 0.0, location: str = "", port: int | None = None):
        self.plan, self.delay, self.location = list(plan), delay, location
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}/hook"
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers), body, time.time()))
                    status = receiver.plan.pop(0) if receiver.plan else 200
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((HOST, self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.received)
