"""Reaching the model server: a refused connection fails at once (no retries), while
timeouts, 429 and 5xx are retried; ``--drafter auto`` follows ``OPENAI_BASE_URL`` alone."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from chat_server import ChatServer

from nl2sql import pipeline
from nl2sql.drafting.model_drafter import OpenAIChatClient, retry_delay
from nl2sql.errors import ModelError
from nl2sql.settings import Settings

MESSAGES = [{"role": "user", "content": "How many customers?"}]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_connection_fails_in_under_a_second_without_retries() -> None:
    port = closed_port()
    client = OpenAIChatClient(api_key="test", model="m", base_url=f"http://127.0.0.1:{port}/v1",
                              timeout=60, retries=3)  # the defaults: retries would take ~3.5 s
    started = time.perf_counter()
    with pytest.raises(ModelError) as info:
        client.complete(MESSAGES)
    assert time.perf_counter() - started < 1.0
    assert "connection refused" in info.value.message and str(port) in info.value.message
    assert "\n" not in info.value.message and info.value.exit_code == 5


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limits_and_server_errors_are_still_retried(chat_server: ChatServer,
                                                         status: int) -> None:
    chat_server.fail(status, times=2, retry_after=0)
    chat_server.reply("SELECT 3")
    client = OpenAIChatClient(api_key="test", model="m", base_url=chat_server.base_url,
                              timeout=5, retries=2)
    assert client.complete(MESSAGES).content == "SELECT 3"
    assert len(chat_server.requests) == 3


def test_retries_give_up_after_the_configured_number(chat_server: ChatServer) -> None:
    chat_server.fail(503, times=3, retry_after=0)
    client = OpenAIChatClient(api_key="test", model="m", base_url=chat_server.base_url,
                              timeout=5, retries=1)
    with pytest.raises(ModelError, match="HTTP 503"):
        client.complete(MESSAGES)
    assert len(chat_server.requests) == 2


@pytest.mark.slow  # waits for a real timeout
def test_a_timeout_is_retried(chat_server: ChatServer) -> None:
    chat_server.hang(2.0)
    chat_server.reply("SELECT 4")
    client = OpenAIChatClient(api_key="test", model="m", base_url=chat_server.base_url,
                              timeout=0.3, retries=1)
    assert client.complete(MESSAGES).content == "SELECT 4"


@pytest.mark.parametrize(("headers", "attempt", "low", "high"), [
    ({"retry-after": "2"}, 0, 2.0, 2.0),
    ({"retry-after-ms": "250"}, 3, 0.25, 0.25),
    ({}, 0, 0.375, 0.5),
    ({}, 10, 6.0, 8.0),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 1, 0.75, 1.0),
])
def test_retry_delay(headers: dict[str, str], attempt: int, low: float, high: float) -> None:
    class Response:
        pass

    class Failure(Exception):
        response = Response()

    Failure.response.headers = headers  # type: ignore[attr-defined]
    assert low <= retry_delay(Failure(), attempt) <= high


# --- the drafter auto chooses -------------------------------------------------------------


@pytest.mark.parametrize(("api_key", "base_url", "expected"), [
    (None, None, "offline"),
    ("sk-test", None, "model"),
    (None, "http://127.0.0.1:8000/v1", "model"),  # a local server needs no key
])
def test_auto_drafter(api_key: str | None, base_url: str | None, expected: str) -> None:
    settings = Settings(api_key=api_key, base_url=base_url, drafter="auto")
    assert pipeline.choose_drafter(settings) == expected


def test_cli_auto_uses_a_keyless_local_server(isolated_env: Any, sample_db_path: Path,
                                              chat_server: ChatServer) -> None:
    chat_server.reply("SELECT count(*) AS n FROM customers")
    result = isolated_env.run("ask", "How many customers?", "--db", str(sample_db_path),
                              "--format", "json", env={"OPENAI_BASE_URL": chat_server.base_url})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["drafter"].startswith("model:")
    assert len(chat_server.requests) == 1


def test_cli_model_refused_is_one_line_exit_5(isolated_env: Any, sample_db_path: Path) -> None:
    port = closed_port()
    result = isolated_env.run("ask", "How many customers?", "--db", str(sample_db_path),
                              "--drafter", "model",
                              env={"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1"})
    assert result.returncode == 5
    assert result.stderr.count("\n") == 1 and "connection refused" in result.stderr
    assert result.stderr.startswith("error (model): cannot reach the model server")


def test_cli_auto_falls_back_to_offline_when_refused(isolated_env: Any,
                                                     sample_db_path: Path) -> None:
    port = closed_port()
    result = isolated_env.run("ask", "How many customers?", "--db", str(sample_db_path),
                              "--format", "json",
                              env={"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["drafter"] == "offline"
