"""Chat completions for extraction: async, with our own bounded retries.

The ``openai`` package's ``AsyncOpenAI`` does the HTTP; its own retries are off so this
module decides, per failure, what a bulk job should do:

* 429 — wait what ``Retry-After`` says (else back off exponentially) and retry; every
  worker pauses for that long, so a rate-limit storm is not made worse by the others;
* 5xx, 408/409, timeouts, garbage bodies, dropped connections — back off and retry;
* after ``retries`` retries the row fails (:class:`RequestFailed`): the run goes on and
  the row is retried by the next run. A server that cannot be reached at all, or that
  rejects the key or the model, stops the run (:class:`~nl2sql.errors.ModelError`);
* 400 naming ``response_format``/``json_schema`` — the server has no structured output:
  switch to JSON in the text for the rest of the run and resend at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from nl2sql.drafting.model_drafter import error_text, first_message
from nl2sql.errors import ModelError
from nl2sql.extract.prompt import response_format
from nl2sql.extract.spec import Spec

MAX_RETRY_AFTER = 60.0
BACKOFF_START = 0.5
BACKOFF_MAX = 8.0
SCHEMA_WORDS = ("response_format", "json_schema", "structured output")


class RequestFailed(ModelError):
    """One row's request failed after its retries (the row is retried by the next run)."""

    kind = "model_request"


@dataclass
class Reply:
    content: str
    prompt_tokens: int | None
    completion_tokens: int | None
    refusal: str | None = None
    # What was sent: the chat, and whether the schema went in response_format.
    chat: list[dict[str, str]] = field(default_factory=list)
    structured: bool = True


@dataclass
class Counters:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0


class ExtractClient:
    """One model, one server, shared by every worker of a run."""

    def __init__(self, api_key: str, model: str, base_url: str | None, timeout: float,
                 retries: int, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        import openai

        self.model = model
        self.base_url = base_url or "https://api.openai.com/v1"
        self.retries = retries
        self.timeout = timeout
        self.structured = True
        self.counters = Counters()
        self._sleep = sleep
        self._cooldown_until = 0.0
        self._response_format: dict[str, Any] | None = None
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, timeout=timeout,
                                          max_retries=0)

    async def close(self) -> None:
        await self._client.close()

    async def complete(self, build: Callable[[bool], list[dict[str, str]]], spec: Spec) -> Reply:
        """The model's answer to the chat ``build(structured)`` makes (rebuilt when the
        server turns out to lack structured output); raises :class:`RequestFailed` or
        :class:`~nl2sql.errors.ModelError`."""
        attempt = 0
        while True:
            await self._wait_cooldown()
            structured = self.structured
            chat = build(structured)
            self.counters.requests += 1
            try:
                reply = _reply(await self._create(chat, spec, structured))
                reply.chat, reply.structured = chat, structured
                return reply
            except Exception as exc:  # noqa: BLE001 - sorted into retry / fallback / fail below
                delay, reason = self._judge(exc, structured, attempt)
            if delay is None:  # the structured-output fallback: resend at once, not a retry
                continue
            attempt += 1
            if attempt > self.retries:
                raise RequestFailed(f"{reason} (after {self.retries} retries)")
            self.counters.retries += 1
            await self._sleep(delay)

    async def _create(self, chat: list[dict[str, str]], spec: Spec, structured: bool) -> Any:
        # response_format travels in extra_body: the SDK's typed transform of a nested JSON
        # schema costs ~1.3 ms of CPU per request, which caps a bulk run's throughput.
        body = {"response_format": self._format(spec)} if structured else None
        return await self._client.chat.completions.create(
            model=self.model, messages=chat, temperature=0,  # type: ignore[arg-type]
            extra_body=body)

    def _format(self, spec: Spec) -> dict[str, Any]:
        if self._response_format is None:
            self._response_format = response_format(spec)
        return self._response_format

    def _judge(self, exc: Exception, structured: bool, attempt: int) -> tuple[float | None, str]:
        """How long to wait before retrying ``exc`` and why; raises when retrying is pointless."""
        import openai

        backoff = min(BACKOFF_START * 2 ** attempt, BACKOFF_MAX) * random.uniform(0.8, 1.2)
        if isinstance(exc, openai.BadRequestError):
            text = error_text(exc)
            if structured and any(w in text.lower() for w in SCHEMA_WORDS):
                self.structured = False
                return None, text
            raise RequestFailed(f"the model server refused the request (HTTP 400): {text}") from exc
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            raise ModelError(f"the model server at {self.base_url} rejected the API key "
                             "(check OPENAI_API_KEY)") from exc
        if isinstance(exc, openai.NotFoundError):
            raise ModelError(f"the model server does not know model {self.model!r} (check "
                             "NL2SQL_MODEL) or the URL is wrong") from exc
        if isinstance(exc, openai.RateLimitError):
            self.counters.rate_limited += 1
            wait = _retry_after(exc)
            delay = wait if wait is not None else backoff
            self._cooldown_until = max(self._cooldown_until, time.monotonic() + delay)
            return delay, "the model server kept rate limiting (HTTP 429)"
        if isinstance(exc, openai.APITimeoutError):
            return backoff, f"no answer within {self.timeout:g} s"
        if isinstance(exc, openai.APIConnectionError):
            if attempt >= self.retries:
                raise ModelError(f"cannot reach the model server at {self.base_url}") from exc
            return backoff, "the connection to the model server failed"
        if isinstance(exc, openai.APIStatusError):
            text = f"HTTP {exc.status_code}: {error_text(exc)}"
            if exc.status_code >= 500 or exc.status_code in (408, 409):
                return backoff, f"the model server failed ({text})"
            raise RequestFailed(f"the model server refused the request ({text})") from exc
        if isinstance(exc, (openai.OpenAIError, ValueError, ModelError)):
            return backoff, "the model server sent a reply that is not chat-completions JSON"
        raise exc

    async def _wait_cooldown(self) -> None:
        wait = self._cooldown_until - time.monotonic()
        if wait > 0:
            await self._sleep(wait)


def _reply(response: Any) -> Reply:
    """The answer's text (or refusal) and usage, from a checked shape."""
    message = first_message(response)
    content = getattr(message, "content", None)
    refusal = getattr(message, "refusal", None)
    if not isinstance(content, str) and not isinstance(refusal, str):
        raise ModelError("the model server sent a reply with no text")
    usage = getattr(response, "usage", None)
    prompt = getattr(usage, "prompt_tokens", None)
    completion = getattr(usage, "completion_tokens", None)
    return Reply(content=content if isinstance(content, str) else "",
                 prompt_tokens=int(prompt) if isinstance(prompt, int) else None,
                 completion_tokens=int(completion) if isinstance(completion, int) else None,
                 refusal=refusal if isinstance(refusal, str) else None)


def _retry_after(exc: Any) -> float | None:
    """Seconds from ``Retry-After-Ms`` / ``Retry-After`` (capped), if the server sent one."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(header)
        try:
            seconds = float(raw) / divisor if raw is not None else None
        except ValueError:
            seconds = None
        if seconds is not None and seconds >= 0:
            return min(seconds, MAX_RETRY_AFTER)
    return None
