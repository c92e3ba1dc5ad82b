"""Meta-commands that need no terminal: \\confirm, \\edit, \\explain, \\limit, \\drafter,
driven through the shell's own line runner with a recording console."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from chat_server import ChatServer
from rich.console import Console

from nl2sql import pipeline
from nl2sql.interfaces import shell
from nl2sql.settings import Settings


@pytest.fixture
def state(sample_db_path: Path, tmp_path: Path, chat_server: ChatServer) -> Iterator[shell.State]:
    settings = Settings(db=str(sample_db_path), cache_dir=tmp_path / "cache", api_key="test",
                        base_url=chat_server.base_url, model_retries=0)
    with pipeline.open_session(settings) as session:
        console = Console(file=io.StringIO(), width=200, color_system=None)
        yield shell.State(session=session, console=console, drafter="offline")


def output(state: shell.State) -> str:
    text = state.console.file.getvalue()  # type: ignore[attr-defined]
    state.console.file.truncate(0)  # type: ignore[attr-defined]
    state.console.file.seek(0)  # type: ignore[attr-defined]
    return str(text)


def test_confirm_declined_model_sql_never_runs(state: shell.State, chat_server: ChatServer) -> None:
    chat_server.reply("```sql\nSELECT count(*) AS n FROM customers\n```")
    chat_server.reply("```sql\nSELECT count(*) AS n FROM customers\n```")
    asked: list[str] = []
    state.ask_yes_no = lambda prompt: asked.append(prompt) is None and False
    shell.run_line(state, "\\drafter model")
    shell.run_line(state, "\\confirm on")
    shell.run_line(state, "how many customers")
    text = output(state)
    assert asked and "not run" in text and state.last is None
    state.ask_yes_no = lambda prompt: True
    shell.run_line(state, "how many customers")
    assert state.last is not None and state.last.rows[0][0] > 0


def test_edit_reruns_the_edited_sql(state: shell.State, monkeypatch: pytest.MonkeyPatch) -> None:
    shell.run_line(state, "select count(*) as n from orders")
    monkeypatch.setenv("EDITOR", """sh -c 'printf "SELECT 7 AS seven" > "$0"'""")
    shell.run_line(state, "\\edit")
    assert state.last is not None and state.last.rows == [(7,)]


def test_explain_shows_interpretation_and_plan(state: shell.State) -> None:
    shell.run_line(state, "How many customers are in each city?")
    output(state)
    shell.run_line(state, "\\explain")
    text = output(state)
    assert "Understood as:" in text and "customers" in text and "GROUP_BY" in text.upper()


def test_limit_and_format_apply_to_following_queries(state: shell.State) -> None:
    shell.run_line(state, "\\limit 3")
    shell.run_line(state, "\\format csv")
    output(state)
    shell.run_line(state, "select customer_id from customers order by 1")
    lines = output(state).strip().splitlines()
    assert lines == ["customer_id", "1", "2", "3"]


@pytest.mark.parametrize("line", ["\\limit zero", "\\format xml", "\\drafter robot",
                                  "\\describe nope", "\\export", "\\chart", "\\explain"])
def test_bad_meta_commands_print_one_line(state: shell.State, line: str) -> None:
    shell.run_line(state, line)
    text = output(state).strip()
    assert text.startswith("error (") and len(text.splitlines()) == 1, text
