"""An OpenAI-compatible chat-completions endpoint on a loopback port, for tests of the LLM paths.

One fake for every service (the compiler's LLM mode, recommendation-agent's intent and ranking): each test
sets what the next request gets, and reads back what was sent. It is a real HTTP server on a real socket,
so the clients' timeouts, size caps and error handling are exercised as in production.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[dict[str, Any]], tuple[int, bytes | None]]


def completion(content: Any) -> bytes:
    """A chat completion whose one choice says ``content`` (text as is, anything else as JSON)."""
    text = content if isinstance(content, str) else json.dumps(content)
    return json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}).encode()


class FakeChatCompletions:
    """``reply(request_body) -> (status, body)`` answers each POST; ``requests`` records path and body.

    ``body=None`` sends no Content-Length and streams until the connection closes (an answer too big to
    read whole); ``trickle`` sends a byte at a time (each read is quick, the whole answer never is);
    ``slow_s`` holds the answer back. ``close()`` releases whatever is held, so a test never waits on it.
    """

    def __init__(self) -> None:
        self.reply: Reply = lambda body: (500, b"{}")
        self.slow_s = 0.0
        self.trickle = False
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, content: Any, status: int = 200) -> None:
        """Every request gets this content as a completion."""
        self.reply = lambda body: (status, completion(content))

    def answer_with(self, content_for: Callable[[dict[str, Any]], Any]) -> None:
        """Each request gets the completion ``content_for(request_body)`` computes."""
        self.reply = lambda body: (200, completion(content_for(body)))

    def __enter__(self) -> FakeChatCompletions:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                fake.requests.append({"path": self.path, "body": body})
                if fake.slow_s:
                    fake.release.wait(fake.slow_s)
                status, out = fake.reply(body)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client stopped reading
                    self._send(status, out)

            def _send(self, status: int, out: bytes | None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if out is not None and not fake.trickle:
                    self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                if fake.trickle:
                    for b in out or b"{}" * 100:
                        if fake.release.wait(0.05):
                            break
                        self.wfile.write(bytes([b]))
                        self.wfile.flush()
                elif out is not None:
                    self.wfile.write(out)
                else:
                    chunk = b"x" * 65536
                    for _ in range(200):
                        self.wfile.write(chunk)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
