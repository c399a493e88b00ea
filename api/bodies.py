"""Request bodies are read whole, against a deadline, before the app sees them.

A client that sends its headers and then trickles the body (slowloris) holds a server thread for as long
as it likes: 4 such clients starved the 4 threads of `python -m api serve`, and a search then waited 20 s.
`BodyDeadline` reads the body into memory (it is bounded: `MATCHGRAPH_MAX_BODY`, 413 above) within
`MATCHGRAPH_BODY_TIMEOUT_S` seconds of the request's first body byte being awaited, with the socket's
timeout set to what is left (gunicorn hands the socket in `environ["gunicorn.socket"]`), and answers
408 in the API's JSON error shape when the client is too slow. The thread is then free again.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import time
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)
_CHUNK = 64 * 1024


class BodyDeadline:
    """WSGI middleware: the whole body within `seconds`, or 408."""

    def __init__(self, app: Callable, seconds: float, max_body: int) -> None:
        self.app, self.seconds, self.max_body = app, float(seconds), int(max_body)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not chunked and (not length.isdigit() or int(length) == 0 or int(length) > self.max_body):
            return self.app(environ, start_response)  # no body, or one the app refuses (413) unread
        want = int(length) if not chunked else self.max_body + 1
        sock = environ.get("gunicorn.socket")
        deadline = time.monotonic() + self.seconds
        stream = environ["wsgi.input"]
        parts: list[bytes] = []
        got = 0
        try:
            while got < want:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                if isinstance(sock, socket.socket):
                    sock.settimeout(left)
                part = stream.read(min(_CHUNK, want - got))
                if not part:
                    break
                parts.append(part)
                got += len(part)
        except (TimeoutError, OSError):
            log.warning("request body not received within %.0f s (%d of %s bytes): 408", self.seconds, got,
                        length or "chunked")
            return _too_slow(start_response, self.seconds)
        finally:
            if isinstance(sock, socket.socket):
                try:
                    sock.settimeout(None)
                except OSError:  # the client went away
                    pass
        environ["wsgi.input"] = io.BytesIO(b"".join(parts))
        if chunked:
            environ["CONTENT_LENGTH"] = str(got)
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)


def _too_slow(start_response: Callable, seconds: float) -> list[bytes]:
    body = json.dumps({"error": {"code": "timeout", "field": "body",
                                 "message": f"body: not received within {seconds:g} s"}}).encode()
    start_response("408 Request Timeout", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                           ("Connection", "close")])
    return [body]
