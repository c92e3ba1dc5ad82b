"""Shared pytest configuration and fixtures for the nl2sql test suite."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# ---------------------------------------------------------------------------------------
# Test helpers live in tests/ (which is not a package): make them importable as top-level
# modules (``from chat_server import ChatServer``) whatever pytest's import mode is.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

# ---------------------------------------------------------------------------------------
# BEGIN chat_server fixture: a local OpenAI-compatible server (no internet in tests).
from chat_server import ChatServer  # noqa: E402


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    """A started :class:`ChatServer` on 127.0.0.1, stopped after the test.

    Point the product at it with ``monkeypatch.setenv("OPENAI_BASE_URL", chat_server.base_url)``.
    """
    server = ChatServer().start()
    try:
        yield server
    finally:
        server.stop()


# END chat_server fixture
# ---------------------------------------------------------------------------------------
