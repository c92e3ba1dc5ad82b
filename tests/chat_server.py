"""A scripted, OpenAI-compatible chat-completions HTTP server for tests.

The test suite must never touch the internet. Tests that exercise the product's model
path start a :class:`ChatServer` on ``127.0.0.1`` (random free port) and point the
``openai`` client at it (``OPENAI_BASE_URL=server.base_url``).

Behaviour is scripted as a FIFO queue of *steps*; every ``POST /v1/chat/completions``
consumes exactly one step:

* :meth:`ChatServer.reply` -- a normal assistant answer (optionally delayed);
* :meth:`ChatServer.fail` -- an HTTP error with an OpenAI-shaped JSON body;
* :meth:`ChatServer.garbage` -- a malformed body;
* :meth:`ChatServer.hang` -- wait (to trigger client timeouts), then answer ``SELECT 1``;
* :meth:`ChatServer.drop_connection` -- close the socket without any response.

When the queue is empty, :attr:`ChatServer.responder` (if set) builds the answer from the
parsed request; this is what concurrent workloads use. Every request is recorded in
:attr:`ChatServer.requests`.

Only the standard library is used.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["ChatServer"]

_ERROR_TYPES: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "not_found"),
    408: ("timeout_error", None),
    409: ("conflict_error", None),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", "service_unavailable"),
}

_CHAT_PATH = "/v1/chat/completions"
_EMBEDDINGS_PATH = "/v1/embeddings"
_MODELS_PATH = "/v1/models"
_STREAM_PIECE = 16  # characters of content per streamed chunk


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class _Reply:
    content: str
    prompt_tokens: int | None
    completion_tokens: int | None
    delay: float
    finish_reason: str


@dataclass(frozen=True)
class _Fail:
    status: int
    message: str
    retry_after: float | None


@dataclass(frozen=True)
class _Garbage:
    body: bytes
    status: int
    content_type: str


@dataclass(frozen=True)
class _Hang:
    seconds: float


@dataclass(frozen=True)
class _Drop:
    pass


_Step = _Reply | _Fail | _Garbage | _Hang | _Drop


# --------------------------------------------------------------------------- helpers


def _text_of(content: Any) -> str:
    """Return the text of a message ``content`` (a string or a list of content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "".join(parts)
    return ""


def _messages_of(body: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Return the ``messages`` list of a parsed request body (``[]`` when absent)."""
    if not isinstance(body, dict):
        return []
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, dict)]


def _estimate_tokens(text: str) -> int:
    """Crude token estimate used when a step does not fix the counts: ``len(text) // 4``."""
    return len(text) // 4


def _format_retry_after(seconds: float) -> str:
    """Format a ``Retry-After`` value: an integer when whole, else a decimal number."""
    if float(seconds).is_integer():
        return str(int(seconds))
    return repr(float(seconds))


def _error_body(status: int, message: str) -> dict[str, Any]:
    """Build an OpenAI-shaped error body for ``status``."""
    fallback = ("server_error" if status >= 500 else "invalid_request_error", None)
    err_type, code = _ERROR_TYPES.get(status, fallback)
    return {"error": {"message": message, "type": err_type, "param": None, "code": code}}


# --------------------------------------------------------------------------- HTTP layer


class _HTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` that tracks open connections so it can close them on stop."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # many concurrent clients connect at once in load tests

    def __init__(self, chat: ChatServer) -> None:
        self.chat = chat
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s reverse-DNS ``getfqdn`` lookup (slow offline)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Remember the connection, then hand it to a (daemon) handler thread."""
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection and close it."""
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_all_connections(self) -> None:
        """Shut down every open connection so idle keep-alive handlers exit promptly."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients hanging up mid-response is expected in fault tests."""


class _Handler(BaseHTTPRequestHandler):
    """Request handler; all behaviour lives in :class:`ChatServer`."""

    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects
    server_version = "ChatServer/1.0"
    sys_version = ""
    timeout = 60  # idle keep-alive connections die eventually even without stop()
    # Headers and body are two writes: without this, Nagle's algorithm and the client's
    # delayed ACK add ~40 ms to every response (a "200 ms" reply took 240 ms).
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence the default per-request logging to stderr."""

    # -- plumbing -----------------------------------------------------------------

    def _read_body(self) -> bytes:
        """Read the request body (``Content-Length`` or chunked transfer encoding)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_bytes(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        """Send a complete response with ``Content-Length`` (keeps the connection usable)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-request-id", f"req_{self.server.chat._next_id()}")
        for key, value in (extra_headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_json(
        self, status: int, obj: Any, extra_headers: dict[str, str] | None = None
    ) -> None:
        """Send ``obj`` as a JSON response."""
        self._send_bytes(status, json.dumps(obj).encode("utf-8"), extra_headers=extra_headers)

    def _send_error_json(
        self, status: int, message: str, extra_headers: dict[str, str] | None = None
    ) -> None:
        """Send an OpenAI-shaped JSON error."""
        self._send_json(status, _error_body(status, message), extra_headers)

    def _record(self, body: bytes) -> dict[str, Any] | None:
        """Parse the body as JSON (``None`` if it is not) and record the request."""
        parsed: dict[str, Any] | None = None
        try:
            loaded: Any = json.loads(body) if body else None
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            parsed = loaded
        self.server.chat._record(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "json": parsed,
                "time": time.time(),
            }
        )
        return parsed

    def _route(self) -> str:
        """The request path without query string or trailing slash."""
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    # -- verbs --------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        """``GET /v1/models`` lists models; anything else is a 404."""
        self._record(b"")
        if self._route() == _MODELS_PATH:
            self._send_json(200, self.server.chat._models_payload())
        else:
            self._send_error_json(404, f"Unknown path: GET {self.path}")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        """``POST /v1/chat/completions`` consumes one scripted step."""
        body = self._read_body()
        parsed = self._record(body)
        if self._route() == _EMBEDDINGS_PATH and parsed is not None:
            self.server.chat._serve_embeddings(self, parsed)
            return
        if self._route() != _CHAT_PATH:
            self._send_error_json(404, f"Unknown path: POST {self.path}")
            return
        if parsed is None:
            self._send_error_json(400, "Request body is not a JSON object")
            return
        self.server.chat._serve_chat(self, parsed)

    def do_DELETE(self) -> None:  # noqa: N802 - stdlib naming
        """Unsupported; answered with a 404 JSON error."""
        self._read_body()
        self._record(b"")
        self._send_error_json(404, f"Unknown path: DELETE {self.path}")

    do_PUT = do_DELETE  # noqa: N815
    do_PATCH = do_DELETE  # noqa: N815


# --------------------------------------------------------------------------- public API


class ChatServer:
    """Scripted OpenAI-compatible chat-completions server on 127.0.0.1 (random free port).

    Use as a context manager or call :meth:`start` / :meth:`stop`::

        with ChatServer() as server:
            server.reply("SELECT 1")
            client = openai.OpenAI(base_url=server.base_url, api_key="test")
            ...

    Attributes:
        base_url: ``"http://127.0.0.1:PORT/v1"`` once started.
        responder: fallback used when the step queue is empty; it receives the parsed
            request JSON and returns the assistant content (``None`` -> HTTP 500). It is
            called from many handler threads at once, so it must be thread-safe.
        default_delay: seconds every *fallback* (responder) response waits.
        requests: every received request, in arrival order, as
            ``{"method", "path", "headers", "json", "time"}`` (header keys lower-case,
            ``json`` is the parsed body or ``None``).
        model_ids: the ids listed by ``GET /v1/models``.
        reject_response_format: when true, any request carrying ``response_format`` gets
            HTTP 400 "response_format is not supported" (no step is consumed), like
            servers without structured output.
    """

    def __init__(self) -> None:
        """Create a stopped server; call :meth:`start` (or use ``with``)."""
        self.base_url: str = ""
        self.responder: Callable[[dict[str, Any]], str | None] | None = None
        self.default_delay: float = 0.0
        self.requests: list[dict[str, Any]] = []
        self.model_ids: list[str] = ["gpt-4o-mini", "gpt-4o", "test-model"]
        self.reject_response_format: bool = False
        # POST /v1/embeddings: each request takes the next queued list of vectors (one
        # per input); with none queued, every input gets a vector derived from its text
        # (embedding_dimensions numbers, the same text always the same vector)
        self.embedding_dimensions: int = 8
        self.embedder: Callable[[str], list[float]] | None = None  # text -> vector, if set
        self._vectors: deque[list[list[float]]] = deque()
        self._steps: deque[_Step] = deque()
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._counter = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> ChatServer:
        """Bind ``127.0.0.1:0`` and serve in a daemon thread; returns ``self``."""
        if self._httpd is not None:
            raise RuntimeError("ChatServer already started")
        self._stop_event.clear()
        httpd = _HTTPServer(self)
        port = httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"ChatServer:{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake any hanging handler and close all connections (idempotent)."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stop_event.set()
        httpd.shutdown()
        httpd.close_all_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    @property
    def port(self) -> int:
        """The bound port (raises if the server is not running)."""
        if self._httpd is None:
            raise RuntimeError("ChatServer is not running")
        return int(self._httpd.server_address[1])

    def __enter__(self) -> ChatServer:
        """Start (if needed) and return the server."""
        if self._httpd is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    # -- scripting ----------------------------------------------------------------

    def _push(self, step: _Step) -> None:
        with self._lock:
            self._steps.append(step)

    def reply(
        self,
        content: str,
        *,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        delay: float = 0.0,
        finish_reason: str = "stop",
    ) -> None:
        """Queue a normal assistant answer.

        Token counts default to ``len(text) // 4`` of the request messages / the reply.
        ``delay`` seconds are waited before answering.
        """
        self._push(_Reply(content, prompt_tokens, completion_tokens, delay, finish_reason))

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        message: str = "scripted failure",
        retry_after: float | None = None,
    ) -> None:
        """Queue ``times`` HTTP ``status`` errors with an OpenAI-shaped JSON body.

        The body is ``{"error": {"message", "type", "param", "code"}}``. When
        ``retry_after`` is given a ``Retry-After`` header (seconds) is sent.
        """
        for _ in range(times):
            self._push(_Fail(status, message, retry_after))

    def garbage(
        self,
        body: bytes = b"<html>not json</html>",
        *,
        status: int = 200,
        content_type: str = "application/json",
    ) -> None:
        """Queue a malformed response: ``body`` sent verbatim with ``status``."""
        self._push(_Garbage(body, status, content_type))

    def vectors(self, rows: list[list[float]]) -> None:
        """Queue the answer of one ``POST /v1/embeddings``: ``rows``, whatever was sent."""
        with self._lock:
            self._vectors.append(rows)

    def embedding_requests(self) -> list[dict[str, Any]]:
        """The parsed bodies of the ``/v1/embeddings`` requests, in arrival order."""
        with self._lock:
            return [r["json"] for r in self.requests
                    if r["path"].split("?", 1)[0].rstrip("/") == _EMBEDDINGS_PATH
                    and r["json"] is not None]

    def _serve_embeddings(self, handler: _Handler, body: dict[str, Any]) -> None:
        """Answer ``/v1/embeddings`` in OpenAI's shape (see :meth:`vectors`)."""
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        with self._lock:
            queued = self._vectors.popleft() if self._vectors else None
        make = self.embedder or self._vector_of
        rows = queued if queued is not None else [make(str(t)) for t in texts]
        handler._send_json(200, {
            "object": "list", "model": body.get("model"),
            "data": [{"object": "embedding", "index": i, "embedding": row}
                     for i, row in enumerate(rows)],
            "usage": {"prompt_tokens": sum(len(str(t)) // 4 for t in texts),
                      "total_tokens": sum(len(str(t)) // 4 for t in texts)}})

    def _vector_of(self, text: str) -> list[float]:
        import hashlib

        digest = hashlib.sha256(text.encode("utf-8")).digest()
        return [digest[i % len(digest)] / 255.0 - 0.5 for i in range(self.embedding_dimensions)]

    def hang(self, seconds: float) -> None:
        """Queue a step that waits ``seconds`` then answers ``"SELECT 1"``.

        The wait is interrupted immediately by :meth:`stop`.
        """
        self._push(_Hang(seconds))

    def drop_connection(self) -> None:
        """Queue a step that closes the socket without sending any response."""
        self._push(_Drop())

    def pending(self) -> int:
        """Number of scripted steps not consumed yet."""
        with self._lock:
            return len(self._steps)

    # -- inspection ---------------------------------------------------------------

    def messages(self, i: int = -1) -> list[dict[str, Any]]:
        """The ``messages`` array of recorded request ``i`` (``[]`` if it has none)."""
        with self._lock:
            entry = self.requests[i]
        return _messages_of(entry["json"])

    def all_text(self) -> str:
        """Every message content of every request, concatenated (newline-separated)."""
        with self._lock:
            entries = list(self.requests)
        texts: list[str] = []
        for entry in entries:
            for message in _messages_of(entry["json"]):
                texts.append(_text_of(message.get("content")))
        return "\n".join(texts)

    # -- internals used by the handler -------------------------------------------

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def _pop_step(self) -> _Step | None:
        with self._lock:
            return self._steps.popleft() if self._steps else None

    def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` unless stopped first; returns ``True`` if the server stopped."""
        if seconds <= 0:
            return self._stop_event.is_set()
        return self._stop_event.wait(seconds)

    def _models_payload(self) -> dict[str, Any]:
        created = int(time.time())
        return {
            "object": "list",
            "data": [
                {"id": mid, "object": "model", "created": created, "owned_by": "chat-server"}
                for mid in self.model_ids
            ],
        }

    def _serve_chat(self, handler: _Handler, request: dict[str, Any]) -> None:
        """Answer one chat-completions request according to the next step."""
        if self.reject_response_format and "response_format" in request:
            handler._send_error_json(
                400, "response_format json_schema is not supported by this server"
            )
            return
        step = self._pop_step()
        if step is None:
            self._serve_fallback(handler, request)
            return
        if isinstance(step, _Reply):
            if self._sleep(step.delay):
                handler.close_connection = True
                return
            self._send_completion(
                handler,
                request,
                step.content,
                step.finish_reason,
                step.prompt_tokens,
                step.completion_tokens,
            )
        elif isinstance(step, _Fail):
            headers: dict[str, str] = {}
            if step.retry_after is not None:
                headers["Retry-After"] = _format_retry_after(step.retry_after)
            handler._send_error_json(step.status, step.message, headers)
        elif isinstance(step, _Garbage):
            handler._send_bytes(step.status, step.body, step.content_type)
        elif isinstance(step, _Hang):
            if self._sleep(step.seconds):
                handler.close_connection = True
                return
            self._send_completion(handler, request, "SELECT 1", "stop", None, None)
        else:  # _Drop
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _serve_fallback(self, handler: _Handler, request: dict[str, Any]) -> None:
        """No step queued: ask :attr:`responder` (after :attr:`default_delay`)."""
        responder = self.responder
        if responder is None:
            # A test forgot to script this call: fail fast, and tell the client not to retry.
            handler._send_error_json(
                500,
                "ChatServer: no scripted step queued and no responder set",
                {"x-should-retry": "false"},
            )
            return
        if self._sleep(self.default_delay):
            handler.close_connection = True
            return
        try:
            content = responder(request)
        except Exception as exc:  # noqa: BLE001 - surfaced to the client as a 500
            handler._send_error_json(500, f"ChatServer responder raised: {exc!r}")
            return
        if content is None:
            handler._send_error_json(500, "ChatServer responder returned None")
            return
        self._send_completion(handler, request, content, "stop", None, None)

    def _usage(
        self,
        request: dict[str, Any],
        content: str,
        prompt_tokens: int | None,
        completion_tokens: int | None,
    ) -> dict[str, int]:
        if prompt_tokens is None:
            prompt_text = "".join(_text_of(m.get("content")) for m in _messages_of(request))
            prompt_tokens = _estimate_tokens(prompt_text)
        if completion_tokens is None:
            completion_tokens = _estimate_tokens(content)
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

    def _send_completion(
        self,
        handler: _Handler,
        request: dict[str, Any],
        content: str,
        finish_reason: str,
        prompt_tokens: int | None,
        completion_tokens: int | None,
    ) -> None:
        """Send a ``chat.completion`` (or an SSE stream of chunks when requested)."""
        usage = self._usage(request, content, prompt_tokens, completion_tokens)
        completion_id = f"chatcmpl-{self._next_id()}"
        created = int(time.time())
        model = str(request.get("model") or "test-model")
        if request.get("stream") is True:
            stream_options = request.get("stream_options")
            include_usage = isinstance(stream_options, dict) and bool(
                stream_options.get("include_usage")
            )
            self._send_stream(
                handler,
                completion_id,
                created,
                model,
                content,
                finish_reason,
                usage if include_usage else None,
            )
            return
        handler._send_json(
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": usage,
                "system_fingerprint": "fp_chat_server",
            },
        )

    @staticmethod
    def _send_stream(
        handler: _Handler,
        completion_id: str,
        created: int,
        model: str,
        content: str,
        finish_reason: str,
        usage: dict[str, int] | None,
    ) -> None:
        """Send ``content`` as ``chat.completion.chunk`` SSE events, chunked-encoded."""

        def chunk(delta: dict[str, Any], reason: str | None) -> dict[str, Any]:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
                ],
            }

        events: list[dict[str, Any]] = [chunk({"role": "assistant", "content": ""}, None)]
        for start in range(0, len(content), _STREAM_PIECE):
            events.append(chunk({"content": content[start : start + _STREAM_PIECE]}, None))
        events.append(chunk({}, finish_reason))
        if usage is not None:
            final = chunk({}, None)
            final["choices"] = []
            final["usage"] = usage
            events.append(final)

        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        payloads = [f"data: {json.dumps(e)}\n\n".encode() for e in events]
        payloads.append(b"data: [DONE]\n\n")
        for payload in payloads:
            handler.wfile.write(f"{len(payload):x}\r\n".encode("ascii") + payload + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
