"""The model drafter: SQL extraction from replies, and the real client against ChatServer.

``tests/fixtures/model_replies.yaml`` holds the reply shapes. The HTTP tests talk to
the scripted OpenAI-compatible server in ``tests/chat_server.py`` over 127.0.0.1.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
from chat_server import ChatServer
from conftest import load_yaml

from nl2sql.drafting.model_drafter import ChatReply, ModelDrafter, OpenAIChatClient, extract_sql
from nl2sql.errors import ModelError, ModelRefused

REPLIES = load_yaml(
    (Path(__file__).parent / "fixtures" / "model_replies.yaml").read_text(encoding="utf-8"))
MESSAGES = [{"role": "system", "content": "You write SQL."},
            {"role": "user", "content": "Question: how many orders?"}]


# --------------------------------------------------------------------------- extract_sql


@pytest.mark.parametrize("case", [pytest.param(c, id=c["name"]) for c in REPLIES])
def test_extract_sql(case: dict[str, Any]) -> None:
    if case.get("refused"):
        with pytest.raises(ModelRefused) as info:
            extract_sql(case["reply"])
        assert isinstance(info.value, ModelError)
        assert info.value.exit_code == 5
        assert "\n" not in info.value.message
        if "says" in case:
            assert case["says"] in info.value.message
    else:
        assert extract_sql(case["reply"]) == case["sql"]


def test_refusal_summary_is_short() -> None:
    with pytest.raises(ModelRefused) as info:
        extract_sql("CANNOT ANSWER: " + "no such data " * 100)
    assert len(info.value.message) < 300


class FakeClient:
    """A ChatClient double (the Protocol: ``model`` + ``complete``)."""

    model = "fake-model"

    def __init__(self, content: str) -> None:
        self.content = content
        self.seen: list[list[dict[str, str]]] = []

    def complete(self, messages: list[dict[str, str]]) -> ChatReply:
        self.seen.append(messages)
        return ChatReply(self.content, prompt_tokens=120, completion_tokens=9)


def test_model_drafter_draft() -> None:
    client = FakeClient("```sql\nSELECT 1\n```")
    draft = ModelDrafter(client).draft(MESSAGES)
    assert draft.sql == "SELECT 1"
    assert draft.drafter == "model:fake-model"
    assert (draft.prompt_tokens, draft.completion_tokens) == (120, 9)
    assert draft.reply == "```sql\nSELECT 1\n```"
    assert client.seen == [MESSAGES]


def test_model_drafter_refusal_keeps_token_counts() -> None:
    with pytest.raises(ModelRefused) as info:
        ModelDrafter(FakeClient("CANNOT ANSWER: no weather table.")).draft(MESSAGES)
    assert info.value.details["prompt_tokens"] == 120
    assert info.value.details["completion_tokens"] == 9


# --------------------------------------------------------------------------- real client


def client_for(server: ChatServer, *, timeout: float = 5.0, retries: int = 0,
               model: str = "gpt-4o-mini") -> OpenAIChatClient:
    return OpenAIChatClient(api_key="test", model=model, base_url=server.base_url,
                            timeout=timeout, retries=retries)


def assert_one_line(error: ModelError) -> None:
    assert error.message and "\n" not in error.message, repr(error.message)
    assert error.exit_code == 5


def test_client_returns_content_and_usage(chat_server: ChatServer) -> None:
    chat_server.reply("```sql\nSELECT 1\n```", prompt_tokens=321, completion_tokens=12)
    reply = client_for(chat_server, model="test-model").complete(MESSAGES)
    assert reply.content == "```sql\nSELECT 1\n```"
    assert (reply.prompt_tokens, reply.completion_tokens) == (321, 12)
    (request,) = chat_server.requests
    assert request["path"].endswith("/chat/completions")
    assert request["json"]["model"] == "test-model"
    assert request["json"]["messages"] == MESSAGES
    assert request["json"].get("temperature") == 0
    assert request["headers"]["authorization"] == "Bearer test"


def test_client_default_usage_is_counted(chat_server: ChatServer) -> None:
    chat_server.reply("SELECT count(*) FROM orders")
    reply = client_for(chat_server).complete(MESSAGES)
    assert reply.prompt_tokens > 0 and reply.completion_tokens > 0


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_client_retries_then_succeeds(chat_server: ChatServer, status: int) -> None:
    chat_server.fail(status, retry_after=0.01)
    chat_server.reply("SELECT 2", prompt_tokens=5, completion_tokens=1)
    reply = client_for(chat_server, retries=2).complete(MESSAGES)
    assert reply.content == "SELECT 2"
    assert len(chat_server.requests) == 2
    assert chat_server.pending() == 0


def test_client_gives_up_after_retries_on_500(chat_server: ChatServer) -> None:
    chat_server.fail(500, times=3, retry_after=0.01, message="the GPU caught fire")
    with pytest.raises(ModelError) as info:
        client_for(chat_server, retries=2).complete(MESSAGES)
    assert len(chat_server.requests) == 3
    assert "500" in info.value.message
    assert "GPU caught fire" in info.value.message
    assert_one_line(info.value)


def test_client_gives_up_on_rate_limit(chat_server: ChatServer) -> None:
    chat_server.fail(429, times=2, retry_after=0.01)
    with pytest.raises(ModelError) as info:
        client_for(chat_server, retries=1).complete(MESSAGES)
    assert len(chat_server.requests) == 2
    assert "rate limit" in info.value.message
    assert_one_line(info.value)


@pytest.mark.slow  # waits for a real timeout
def test_client_timeout_is_quick(chat_server: ChatServer) -> None:
    chat_server.hang(10)
    started = time.perf_counter()
    with pytest.raises(ModelError) as info:
        client_for(chat_server, timeout=0.5, retries=0).complete(MESSAGES)
    assert time.perf_counter() - started < 4
    assert "0.5" in info.value.message
    assert_one_line(info.value)


@pytest.mark.parametrize(("body", "status", "content_type"), [
    (b"<html>not json</html>", 200, "application/json"),
    (b"<html>not json</html>", 200, "text/html"),
    (b"{}", 200, "application/json"),
    (b'{"choices": []}', 200, "application/json"),
    (b'{"choices": [{"index": 0, "message": {"role": "assistant"}}]}', 200,
     "application/json"),
    (b"[1, 2, 3]", 200, "application/json"),
    (b"", 200, "application/json"),
    (b"<html>bad gateway</html>", 502, "text/html"),
], ids=["html-as-json", "html", "empty-object", "no-choices", "no-content", "json-list",
        "empty-body", "502-html"])
def test_client_garbage_is_a_model_error(chat_server: ChatServer, body: bytes, status: int,
                                         content_type: str) -> None:
    chat_server.garbage(body, status=status, content_type=content_type)
    with pytest.raises(ModelError) as info:
        client_for(chat_server, retries=0).complete(MESSAGES)
    assert_one_line(info.value)


def test_client_dropped_connection(chat_server: ChatServer) -> None:
    chat_server.drop_connection()
    with pytest.raises(ModelError) as info:
        client_for(chat_server, retries=0).complete(MESSAGES)
    assert "reach" in info.value.message
    assert_one_line(info.value)


def test_client_dropped_connection_is_retried(chat_server: ChatServer) -> None:
    chat_server.drop_connection()
    chat_server.reply("SELECT 3")
    assert client_for(chat_server, retries=1).complete(MESSAGES).content == "SELECT 3"


def test_client_closed_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = OpenAIChatClient(api_key="test", model="m", base_url=f"http://127.0.0.1:{port}/v1",
                              timeout=2, retries=0)
    with pytest.raises(ModelError) as info:
        client.complete(MESSAGES)
    assert str(port) in info.value.message
    assert_one_line(info.value)


@pytest.mark.parametrize(("status", "says"), [
    (401, "OPENAI_API_KEY"),
    (404, "NL2SQL_MODEL"),
    (400, "HTTP 400"),
])
def test_client_http_errors_say_what_to_fix(chat_server: ChatServer, status: int,
                                            says: str) -> None:
    chat_server.fail(status)
    with pytest.raises(ModelError) as info:
        client_for(chat_server, retries=2).complete(MESSAGES)
    assert says in info.value.message
    assert len(chat_server.requests) == 1, "client errors are not retried"
    assert_one_line(info.value)


def test_server_error_text_with_newlines_stays_one_line(chat_server: ChatServer) -> None:
    chat_server.fail(400, message="invalid request:\nmessages[1] too long\nsee docs")
    with pytest.raises(ModelError) as info:
        client_for(chat_server, retries=0).complete(MESSAGES)
    assert "invalid request" in info.value.message
    assert_one_line(info.value)


def test_empty_content_is_refused_by_the_drafter(chat_server: ChatServer) -> None:
    chat_server.reply("")
    with pytest.raises(ModelError):
        ModelDrafter(client_for(chat_server)).draft(MESSAGES)
