"""Stage 5a — the model drafter: chat completions against any OpenAI-compatible server.

The model sits behind the small :class:`ChatClient` interface so tests can
inject their own; the real one wraps the ``openai`` package and retries
408/409/429/5xx answers, timeouts and dropped connections itself, with
exponential backoff honouring ``Retry-After`` (:func:`retryable`). A refused
connection is never retried: nothing listens there, and waiting for it only
delays the one-line error. Whatever the model says is untrusted: SQL is
extracted from it, prose is never executed.
"""

from __future__ import annotations

import errno
import random
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from nl2sql.errors import ModelError, ModelRefused
from nl2sql.values import Draft


@dataclass
class ChatReply:
    content: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatClient(Protocol):
    """Anything that can complete a chat: the real client or a test double."""

    model: str

    def complete(self, messages: list[dict[str, str]]) -> ChatReply: ...


class OpenAIChatClient:
    """The ``openai`` package speaking chat completions to ``base_url``."""

    def __init__(self, api_key: str, model: str, base_url: str | None = None,
                 timeout: float = 60.0, retries: int = 3) -> None:
        import openai

        self.model = model
        self.base_url = base_url or "https://api.openai.com/v1"
        # max_retries=0: the retries are ours (see retryable), not the package's
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout,
                                     max_retries=0)
        self._timeout = timeout
        self._retries = retries

    def complete(self, messages: list[dict[str, str]]) -> ChatReply:
        import openai

        for attempt in range(self._retries + 1):
            try:
                response: Any = self._client.chat.completions.create(
                    model=self.model, messages=messages, temperature=0)  # type: ignore[arg-type]
                return _reply_from(response)
            except (openai.OpenAIError, ValueError) as exc:
                if attempt == self._retries or not retryable(exc):
                    raise self._error(exc) from exc
                time.sleep(retry_delay(exc, attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _error(self, exc: Exception) -> ModelError:
        """What went wrong with the model server, on one line."""
        import openai

        if isinstance(exc, openai.APITimeoutError):
            return ModelError(f"the model server at {self.base_url} did not answer within "
                              f"{self._timeout:g} s ({self._retries} retries)")
        if isinstance(exc, openai.APIConnectionError):
            why = ": connection refused (is it running?)" if refused(exc) else ""
            return ModelError(f"cannot reach the model server at {self.base_url}{why}")
        if isinstance(exc, openai.AuthenticationError):
            return ModelError(f"the model server at {self.base_url} rejected the API key "
                              "(check OPENAI_API_KEY)")
        if isinstance(exc, openai.NotFoundError):
            return ModelError(f"the model server does not know model {self.model!r} "
                              "(check NL2SQL_MODEL) or the URL is wrong")
        if isinstance(exc, openai.RateLimitError):
            return ModelError(f"the model server is rate limiting us; gave up after "
                              f"{self._retries} retries")
        if isinstance(exc, openai.APIStatusError):
            return ModelError(f"the model server answered HTTP {exc.status_code}: "
                              f"{error_text(exc)}")
        # A body that is not JSON surfaces as ValueError (JSONDecodeError).
        return ModelError("the model server sent a reply that is not chat-completions JSON")


def refused(exc: BaseException) -> bool:
    """True when the connection was refused: the error, or one it was raised from."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError) or (
                isinstance(current, OSError) and current.errno == errno.ECONNREFUSED):
            return True
        current = current.__cause__ or current.__context__
    return False


def retryable(exc: BaseException) -> bool:
    """Worth another try: a timeout, a dropped connection, HTTP 408/409/429 or 5xx; not a
    refused connection or another client error (asking again gets the same answer)."""
    import openai

    if isinstance(exc, openai.APIConnectionError):  # timeouts included
        return not refused(exc)
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def retry_delay(exc: BaseException, attempt: int) -> float:
    """Seconds before retry ``attempt + 1``: the server's ``Retry-After`` (up to a
    minute), else 0.5 s doubling up to 8 s, less up to a quarter of jitter."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        millis = headers.get("retry-after-ms")
        asked = float(millis) / 1000 if millis else float(headers.get("retry-after") or "")
    except (TypeError, ValueError):
        asked = -1.0  # absent, or an HTTP date: back off on our own
    if 0 <= asked <= 60:
        return asked
    return min(0.5 * 2 ** attempt, 8.0) * (1 - 0.25 * random.random())  # noqa: S311


def error_text(exc: Any) -> str:
    """The server's own words for an HTTP error, on one line (also used by extract)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else body
        if isinstance(inner.get("message"), str):
            return " ".join(str(inner["message"]).split())[:200]
    return " ".join(str(getattr(exc, "message", exc)).split())[:200]


def first_message(response: Any) -> Any:
    """The first choice's message; lenient servers send odd bodies with HTTP 200, so the
    shape is checked here rather than trusted (also used by extract)."""
    choices = getattr(response, "choices", None)
    if not choices:
        raise ModelError("the model server sent a reply with no choices")
    return getattr(choices[0], "message", None)


def _reply_from(response: Any) -> ChatReply:
    message = first_message(response)
    content = getattr(message, "content", None)
    if not isinstance(content, str):
        raise ModelError("the model server sent a reply with no text")
    usage = getattr(response, "usage", None)
    return ChatReply(content=content,
                     prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                     completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0))


_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\n?(.*?)```", re.S)
_FENCE_LANGS = ("", "sql", "duckdb", "sqlite", "postgresql", "postgres", "mysql", "psql")
_QUERY_START = ("select", "with", "from", "values", "(")


def extract_sql(reply: str) -> str:
    """The one SQL query in a model's reply, or :class:`ModelRefused`.

    Handles fenced blocks, bare SQL, SQL with prose around it and reasoning
    blocks; a reply that holds no parseable query is a refusal.

    >>> extract_sql("Sure! Here it is:\\n```sql\\nSELECT 1;\\n```\\nHope that helps.")
    'SELECT 1'
    >>> extract_sql("The answer is\\nSELECT count(*) FROM t\\nwhich counts rows.")
    'SELECT count(*) FROM t'
    """
    text = _THINK.sub("", reply).strip()
    broken: str | None = None  # a fenced query that does not parse: a draft with a typo
    for lang, body in _FENCE.findall(text):
        if lang.lower() in _QUERY_START:
            body = f"{lang} {body}"  # "```SELECT 1```": the first word is SQL, not a language
        elif lang.lower() not in _FENCE_LANGS:
            continue  # ```python, ```text: not SQL
        candidate = _parseable_query(body.strip())
        if candidate:
            return candidate
        if broken is None and body.strip().lower().startswith(_QUERY_START):
            broken = body.strip().rstrip(";").strip()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().lower().startswith(_QUERY_START):
            candidate = _longest_query(lines[i:])
            if candidate:
                return candidate
    if broken:
        # The model meant this as its query: the guard reports the syntax error, and the
        # repair loop sends it back, rather than calling the reply a refusal.
        return broken
    raise ModelRefused("the model could not answer: " + _summary(text))


def _longest_query(lines: list[str]) -> str | None:
    """Drop trailing prose lines until what is left parses as a query."""
    for end in range(len(lines), 0, -1):
        candidate = _parseable_query("\n".join(lines[:end]).strip())
        if candidate:
            return candidate
    return None


def _parseable_query(text: str) -> str | None:
    text = text.strip().rstrip(";").strip()
    if not text:
        return None
    try:
        statements = [s for s in sqlglot.parse(text, read="duckdb") if s is not None]
    except (ParseError, TokenError, RecursionError):
        return None
    if len(statements) != 1 or isinstance(statements[0], exp.Command):
        # More than one statement is returned as is: the guard names the problem.
        return text if len(statements) > 1 else None
    if isinstance(statements[0], (exp.Condition, exp.Alias, exp.Identifier, exp.Tuple)):
        return None  # a bare expression, e.g. the word "Sorry" or "text hello"
    return text


def _summary(text: str) -> str:
    one_line = " ".join(text.split())
    return (one_line[:160] + "…") if len(one_line) > 160 else (one_line or "(empty reply)")


class ModelDrafter:
    """Draft SQL by asking the model; ``complete`` is the only thing it needs."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.name = f"model:{client.model}"

    def draft(self, messages: list[dict[str, str]]) -> Draft:
        started = time.perf_counter()
        reply = self.client.complete(messages)
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        try:
            sql = extract_sql(reply.content)
        except ModelRefused as exc:
            exc.details.update(prompt_tokens=reply.prompt_tokens,
                               completion_tokens=reply.completion_tokens)
            raise
        return Draft(sql=sql, drafter=self.name, prompt_tokens=reply.prompt_tokens,
                     completion_tokens=reply.completion_tokens, elapsed_ms=elapsed,
                     reply=reply.content)
