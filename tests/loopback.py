"""A real HTTP server on 127.0.0.1 for download tests: files, faults, and the hub's file layout.

Tests start it in a ``with`` block (a background thread of the test process) and point the real
clients at it: ``zshbench download``'s urllib client through a data-set file's [download] url,
and ``huggingface_hub`` through its endpoint setting. Nothing is mocked on the client side.

Faults it can play: close the connection after N bytes of the body (``cut_after``, for the
first ``cuts`` requests), ignore Range requests (``ranges=False``), answer a fixed status.
Every request is logged (method, path, Range header) so tests can see what the client did.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RANGE = re.compile(r"^bytes=(\d+)-$")


@dataclass
class Served:
    """What the server answers for one path."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None  # close the connection after this many body bytes ...
    cuts: int = 1  # ... for this many requests
    ranges: bool = True  # honour "Range: bytes=N-"


@dataclass
class Request:
    method: str
    path: str
    range: str | None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.owner.answer(self, head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self.server.owner.answer(self, head=True)

    def log_message(self, *args) -> None:  # quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LoopbackServer


class LoopbackServer:
    """``with LoopbackServer() as server: url = server.serve("/a.tgz", data)``."""

    def __init__(self) -> None:
        self.routes: dict[str, Served] = {}
        self.requests: list[Request] = []
        self.hub_repos: set[str] = set()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def serve(self, path: str, body: bytes = b"", **how) -> str:
        """Answer ``path`` with ``body`` (and the faults in ``how``); returns its URL."""
        self.routes[path] = Served(body=body, **how)
        return self.base + path

    def serve_hub_file(self, repo_id: str, filename: str, body: bytes) -> None:
        """A file of a model repository as the Hugging Face hub serves it (revision main)."""
        self.hub_repos.add(repo_id)
        commit = hashlib.sha1(repo_id.encode()).hexdigest()
        etag = hashlib.sha256(body).hexdigest()
        self.routes[f"/{repo_id}/resolve/main/{filename}"] = Served(
            body=body, headers={"X-Repo-Commit": commit, "ETag": f'"{etag}"'}
        )

    def gets(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.method == "GET" and r.path == path]

    # -- the server side

    def answer(self, handler: _Handler, head: bool) -> None:
        path = handler.path
        wanted = handler.headers.get("Range")
        self.requests.append(Request("HEAD" if head else "GET", path, wanted))
        served = self.routes.get(path)
        if served is None:
            self._not_found(handler, path)
            return
        if served.status != 200:
            self._send_empty(handler, served.status, {})
            return
        body, status, headers = served.body, 200, dict(served.headers)
        match = _RANGE.match(wanted or "")
        if match and served.ranges and not head:
            start = int(match.group(1))
            if start >= len(body):
                self._send_empty(handler, 416, {"Content-Range": f"bytes */{len(body)}"})
                return
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
            body, status = body[start:], 206
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Accept-Ranges", "bytes" if served.ranges else "none")
        handler.end_headers()
        if head:
            return
        if served.cut_after is not None and served.cuts > 0:
            served.cuts -= 1
            handler.wfile.write(body[: served.cut_after])
            handler.wfile.flush()
            handler.connection.shutdown(socket.SHUT_RDWR)  # the connection drops mid-body
            handler.close_connection = True
            return
        handler.wfile.write(body)

    def _not_found(self, handler: _Handler, path: str) -> None:
        headers = {}
        if "/resolve/" in path:  # what the hub says for a missing file or repository
            repo = path.split("/resolve/")[0].lstrip("/")
            headers["X-Error-Code"] = "EntryNotFound" if repo in self.hub_repos else "RepoNotFound"
        self._send_empty(handler, 404, headers)

    @staticmethod
    def _send_empty(handler: _Handler, status: int, headers: dict[str, str]) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
