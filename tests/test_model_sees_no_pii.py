"""The model sees no personal data: every message the chat server receives is searched for
every personal value in the sample database.

The session runs as the steward (nothing masked, nothing denied), so the engine itself
returns raw values: what keeps them from the model is the prompt builder (values of
columns tagged ``pii`` are withheld) and the repair loop (data values quoted in DuckDB's
errors are scrubbed before the error goes back to the model).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from chat_server import ChatServer

from nl2sql import pipeline
from nl2sql.drafting.prompt import Turn
from nl2sql.errors import NL2SQLError
from nl2sql.settings import PROJECT_ROOT, Settings

PII_COLUMNS = ("name", "phone", "email", "id_number", "CAST(birth_date AS VARCHAR)")


def fenced(sql: str) -> str:
    return f"```sql\n{sql}\n```"


@pytest.fixture
def steward_session(chat_server: ChatServer, sample_db_path: Path,
                    shared_cache_dir: Path) -> Iterator[pipeline.Session]:
    settings = Settings(api_key="test", base_url=chat_server.base_url, db=str(sample_db_path),
                        cache_dir=shared_cache_dir, schemas_dir=PROJECT_ROOT / "schemas",
                        role="steward", model_retries=0, max_repairs=2)
    with pipeline.open_session(settings) as session:
        yield session


def personal_values(db: Path) -> set[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        values: set[str] = set()
        for column in PII_COLUMNS:
            values |= {str(v) for (v,) in con.execute(f"SELECT {column} FROM customers").fetchall()}
        return values
    finally:
        con.close()


def ask(session: pipeline.Session, question: str, turns: list[Turn] | None = None) -> None:
    try:
        pipeline.ask(session, question, conversation=turns, drafter="model")
    except NL2SQLError:
        pass  # a failed answer still sent messages: those are what is checked


def test_no_message_carries_a_personal_value(chat_server: ChatServer,
                                             steward_session: pipeline.Session,
                                             sample_db_path: Path) -> None:
    # Errors that quote data: names and phone numbers that do not convert to integers.
    chat_server.reply(fenced("SELECT CAST(name AS INTEGER) AS n FROM customers"))
    chat_server.reply(fenced("SELECT CAST(phone AS INTEGER) AS n FROM customers"))
    chat_server.reply(fenced("SELECT CAST(email AS DATE) AS n FROM customers"))
    ask(steward_session, "customers' names as numbers")
    # An error that quotes an ID number, and a follow-up conversation.
    chat_server.reply(fenced("SELECT CAST(id_number AS BIGINT) AS n FROM customers"))
    chat_server.reply(fenced("SELECT count(*) AS n FROM customers"))
    ask(steward_session, "ID numbers as numbers")
    chat_server.reply(fenced("SELECT city, count(*) AS n FROM customers GROUP BY city"))
    turns = [Turn(question="How many customers?", sql="SELECT count(*) FROM customers")]
    ask(steward_session, "and per city, with their phone numbers and birthdays?", turns)
    # Questions that pull every personal column into the prompt's context.
    for question in ("list customers' name, phone, email, ID number and birth date",
                     "客户的姓名、手机号、邮箱、身份证号和生日"):
        chat_server.reply(fenced("SELECT name, phone, email, id_number, birth_date "
                                 "FROM customers LIMIT 5"))
        ask(steward_session, question)

    sent = chat_server.all_text()
    assert len(chat_server.requests) == 8
    assert "Could not convert" in sent and "'…'" in sent  # errors went back, scrubbed
    assert "personal data (phone); values withheld" in sent
    leaked = sorted(v for v in personal_values(sample_db_path) if v in sent)
    assert not leaked, f"{len(leaked)} personal values reached the model, e.g. {leaked[:5]}"


def test_the_check_would_catch_a_leak(chat_server: ChatServer, sample_db_path: Path) -> None:
    """The search above is not vacuous: a real phone number in a message is found."""
    phone = sorted(v for v in personal_values(sample_db_path) if v.startswith("1"))[0]
    from openai import OpenAI

    client = OpenAI(api_key="test", base_url=chat_server.base_url, max_retries=0)
    chat_server.reply("ok")
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": phone}])
    assert phone in chat_server.all_text()
