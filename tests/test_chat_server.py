"""Tests for the local OpenAI-compatible test server, driven by the real ``openai`` client.

These also pin down what the installed ``openai`` client raises for each fault, which the
product's error handling relies on.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from chat_server import ChatServer

# The test server itself: CI checks it; the inner loop exercises it through the model-path
# tests that use it (test_model_drafter, test_model_connection, test_cli).
pytestmark = pytest.mark.slow


def _client(server: ChatServer, *, max_retries: int = 0, timeout: float = 5.0) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.base_url, api_key="test", max_retries=max_retries, timeout=timeout
    )


def _ask(client: openai.OpenAI, text: str = "How many users?", **kwargs: Any) -> Any:
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}], **kwargs
    )


def test_base_url_and_lifecycle() -> None:
    server = ChatServer()
    with server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert server.base_url.startswith("http://127.0.0.1:")
    server.stop()  # idempotent


def test_reply_round_trips_with_usage(chat_server: ChatServer) -> None:
    chat_server.reply("SELECT count(*) FROM users", prompt_tokens=11, completion_tokens=5)
    resp = _ask(_client(chat_server))
    assert resp.choices[0].message.content == "SELECT count(*) FROM users"
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.object == "chat.completion"
    assert resp.model == "gpt-4o-mini"
    assert resp.id.startswith("chatcmpl-")
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (11, 5)
    assert resp.usage.total_tokens == 16
    assert chat_server.pending() == 0


def test_default_usage_is_estimated_and_finish_reason_scripted(chat_server: ChatServer) -> None:
    chat_server.reply("x" * 40, finish_reason="length")
    resp = _ask(_client(chat_server), "y" * 80)
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == 20
    assert resp.usage.completion_tokens == 10
    assert resp.choices[0].finish_reason == "length"


def test_steps_are_fifo(chat_server: ChatServer) -> None:
    client = _client(chat_server)
    chat_server.reply("first")
    chat_server.reply("second")
    assert chat_server.pending() == 2
    assert _ask(client).choices[0].message.content == "first"
    assert _ask(client).choices[0].message.content == "second"
    assert chat_server.pending() == 0


def test_requests_record_messages_and_headers(chat_server: ChatServer) -> None:
    chat_server.reply("SELECT 1")
    _ask(
        _client(chat_server),
        "list customers",
        response_format={"type": "json_object"},
    )
    assert len(chat_server.requests) == 1
    req = chat_server.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == "Bearer test"
    assert req["headers"]["content-type"].startswith("application/json")
    assert req["json"]["model"] == "gpt-4o-mini"
    assert req["json"]["response_format"] == {"type": "json_object"}
    assert isinstance(req["time"], float)
    assert chat_server.messages() == [{"role": "user", "content": "list customers"}]
    assert chat_server.messages(0) == chat_server.messages(-1)
    assert "list customers" in chat_server.all_text()


def test_all_text_covers_every_message_of_every_request(chat_server: ChatServer) -> None:
    client = _client(chat_server)
    chat_server.reply("a")
    chat_server.reply("b")
    client.chat.completions.create(
        model="m",
        messages=[
            {"role": "system", "content": "SYSTEM-PROMPT"},
            {"role": "user", "content": [{"type": "text", "text": "PART-ONE"}]},
        ],
    )
    _ask(client, "SECOND-REQUEST")
    text = chat_server.all_text()
    for needle in ("SYSTEM-PROMPT", "PART-ONE", "SECOND-REQUEST"):
        assert needle in text
    assert "alice@example.com" not in text


def test_fail_then_reply_is_retried_by_client(chat_server: ChatServer) -> None:
    chat_server.fail(500)
    chat_server.reply("SELECT 1")
    resp = _ask(_client(chat_server, max_retries=2))
    assert resp.choices[0].message.content == "SELECT 1"
    assert len(chat_server.requests) == 2
    assert chat_server.pending() == 0


def test_fail_without_retries_raises_status_error(chat_server: ChatServer) -> None:
    chat_server.fail(500, message="boom")
    with pytest.raises(openai.InternalServerError) as info:
        _ask(_client(chat_server))
    assert info.value.status_code == 500
    assert info.value.body == {
        "message": "boom",
        "type": "server_error",
        "param": None,
        "code": None,
    }


def test_fail_times_queues_several_failures(chat_server: ChatServer) -> None:
    chat_server.fail(400, times=2)
    client = _client(chat_server)
    for _ in range(2):
        with pytest.raises(openai.BadRequestError):
            _ask(client)
    assert chat_server.pending() == 0


def test_fail_429_with_retry_after(chat_server: ChatServer) -> None:
    chat_server.fail(429, retry_after=0, message="slow down")
    with pytest.raises(openai.RateLimitError) as info:
        _ask(_client(chat_server))
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "0"
    assert "slow down" in str(info.value)


def test_retry_after_is_honoured_by_client(chat_server: ChatServer) -> None:
    # The client's own backoff would be >= 0.375 s; a 0.05 s Retry-After is obeyed instead.
    chat_server.fail(429, retry_after=0.05)
    chat_server.reply("SELECT 2")
    started = time.monotonic()
    resp = _ask(_client(chat_server, max_retries=1))
    assert time.monotonic() - started < 0.35
    assert resp.choices[0].message.content == "SELECT 2"
    assert len(chat_server.requests) == 2


def test_garbage_json_raises_json_decode_error(chat_server: ChatServer) -> None:
    # What the installed client really does with a malformed JSON body: the raw
    # json.JSONDecodeError escapes -- it is NOT wrapped in an openai.OpenAIError.
    chat_server.garbage()
    with pytest.raises(json.JSONDecodeError) as info:
        _ask(_client(chat_server))
    assert not isinstance(info.value, openai.OpenAIError)


def test_garbage_non_json_content_type_with_strict_validation(chat_server: ChatServer) -> None:
    chat_server.garbage(b"<html>oops</html>", content_type="text/html")
    client = openai.OpenAI(
        base_url=chat_server.base_url,
        api_key="test",
        max_retries=0,
        _strict_response_validation=True,
    )
    with pytest.raises(openai.APIResponseValidationError):
        _ask(client)


def test_garbage_non_json_content_type_is_returned_as_str_by_default(
    chat_server: ChatServer,
) -> None:
    # Without strict validation the client silently hands back the raw text.
    chat_server.garbage(b"<html>oops</html>", content_type="text/html")
    assert _ask(_client(chat_server)) == "<html>oops</html>"


def test_garbage_with_error_status(chat_server: ChatServer) -> None:
    chat_server.garbage(b"Bad Gateway", status=502, content_type="text/plain")
    with pytest.raises(openai.InternalServerError) as info:
        _ask(_client(chat_server))
    assert info.value.status_code == 502


@pytest.mark.slow  # waits for a real timeout
def test_hang_triggers_client_timeout_quickly(chat_server: ChatServer) -> None:
    chat_server.hang(2)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        _ask(_client(chat_server, timeout=0.5))
    assert time.monotonic() - started < 2


def test_hang_answers_select_1_when_client_waits(chat_server: ChatServer) -> None:
    chat_server.hang(0.1)
    assert _ask(_client(chat_server)).choices[0].message.content == "SELECT 1"


def test_stop_is_fast_while_a_handler_hangs() -> None:
    server = ChatServer().start()
    server.hang(30)
    client = _client(server, timeout=30)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            _ask(client)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    deadline = time.monotonic() + 5
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1
    caller.join(timeout=5)
    assert not caller.is_alive()
    assert errors and isinstance(errors[0], openai.APIConnectionError)


def test_drop_connection_raises_connection_error(chat_server: ChatServer) -> None:
    chat_server.drop_connection()
    with pytest.raises(openai.APIConnectionError) as info:
        _ask(_client(chat_server))
    assert not isinstance(info.value, openai.APITimeoutError)


def test_server_keeps_working_after_faults(chat_server: ChatServer) -> None:
    client = _client(chat_server, timeout=0.3)
    chat_server.drop_connection()
    chat_server.hang(1)
    chat_server.garbage()
    chat_server.reply("still alive")
    with pytest.raises(openai.APIConnectionError):
        _ask(client)
    with pytest.raises(openai.APITimeoutError):
        _ask(client)
    with pytest.raises(json.JSONDecodeError):
        _ask(client)
    assert _ask(client).choices[0].message.content == "still alive"


def test_responder_serves_concurrent_requests(chat_server: ChatServer) -> None:
    chat_server.default_delay = 0.05
    chat_server.responder = lambda req: "ANSWER " + req["messages"][-1]["content"]
    client = _client(chat_server)
    questions = [f"question {i}" for i in range(50)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda q: _ask(client, q).choices[0].message.content, questions))
    elapsed = time.monotonic() - started
    assert answers == [f"ANSWER {q}" for q in questions]
    assert len(chat_server.requests) == 50
    assert elapsed < 50 * 0.05 / 2


def test_responder_returning_none_is_a_500(chat_server: ChatServer) -> None:
    chat_server.responder = lambda req: None
    with pytest.raises(openai.InternalServerError):
        _ask(_client(chat_server))


def test_unscripted_call_fails_fast_without_retries(chat_server: ChatServer) -> None:
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError, match="no scripted step"):
        _ask(_client(chat_server, max_retries=2))
    assert len(chat_server.requests) == 1  # x-should-retry: false stops the client
    assert time.monotonic() - started < 0.3


def test_scripted_steps_take_priority_over_responder(chat_server: ChatServer) -> None:
    chat_server.responder = lambda req: "from responder"
    chat_server.reply("from queue")
    client = _client(chat_server)
    assert _ask(client).choices[0].message.content == "from queue"
    assert _ask(client).choices[0].message.content == "from responder"


def test_streaming(chat_server: ChatServer) -> None:
    content = "SELECT name, email FROM customers WHERE country = 'NZ'"
    chat_server.reply(content, prompt_tokens=3, completion_tokens=4)
    stream = _ask(_client(chat_server), stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == content
    assert len([c for c in chunks if c.choices]) > 2  # really split into pieces
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 7
    assert chat_server.requests[0]["json"]["stream"] is True


def test_streaming_then_plain_on_same_client(chat_server: ChatServer) -> None:
    client = _client(chat_server)
    chat_server.reply("streamed")
    chat_server.reply("plain")
    text = "".join(c.choices[0].delta.content or "" for c in _ask(client, stream=True))
    assert text == "streamed"
    assert _ask(client).choices[0].message.content == "plain"


def test_models_endpoint(chat_server: ChatServer) -> None:
    models = _client(chat_server).models.list()
    assert "gpt-4o-mini" in [m.id for m in models.data]


def test_unknown_path_is_404_json(chat_server: ChatServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(chat_server.base_url + "/nope", timeout=5)
    assert info.value.code == 404
    body = json.loads(info.value.read())
    assert set(body["error"]) >= {"message", "type", "code"}
    with pytest.raises(openai.NotFoundError):
        _client(chat_server).completions.create(model="m", prompt="x")


def test_embeddings_answer_queued_vectors_then_derived_ones(chat_server: ChatServer) -> None:
    chat_server.vectors([[1.0, 0.0], [0.0, 1.0]])
    first = _client(chat_server).embeddings.create(model="e", input=["a", "b"])
    assert [d.embedding for d in first.data] == [[1.0, 0.0], [0.0, 1.0]]
    again = _client(chat_server).embeddings.create(model="e", input=["a", "a", "b"])
    vectors = [d.embedding for d in again.data]
    assert len(vectors[0]) == chat_server.embedding_dimensions and vectors[0] == vectors[1]
    assert vectors[0] != vectors[2]
    assert [r["input"] for r in chat_server.embedding_requests()] == [["a", "b"], ["a", "a", "b"]]
