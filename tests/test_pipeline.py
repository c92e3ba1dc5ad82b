"""The whole pipeline with the model drafter, against the scripted ChatServer.

Answers are checked by running gold SQL directly on the sample database
(tests/fixtures/pipeline_cases.yaml), never by comparing SQL text.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from chat_server import ChatServer
from conftest import load_yaml
from rows import normalize

from nl2sql import pipeline
from nl2sql.drafting.prompt import Turn
from nl2sql.errors import (
    ConfigError,
    ExecutionError,
    InvalidSQL,
    ModelError,
    ModelRefused,
    QueryTimeout,
    UnsafeSQL,
)
from nl2sql.settings import Settings

CASES = load_yaml(
    (Path(__file__).parent / "fixtures" / "pipeline_cases.yaml").read_text(encoding="utf-8"))
SLOW_SQL = ("SELECT sum(a.quantity * b.quantity * c.quantity) AS s "
            "FROM order_items a, order_items b, order_items c")
GOOD_COUNT = "```sql\nSELECT count(*) AS n FROM customers\n```"


def fenced(sql: str) -> str:
    return f"```sql\n{sql}\n```"


OpenSession = Callable[..., pipeline.Session]


@pytest.fixture
def open_session(chat_server: ChatServer, sample_db_path: Path, shared_cache_dir: Path,
                 empty_schemas_dir: Path) -> Iterator[OpenSession]:
    """``open_session(**settings_overrides)``: a session on the sample DB + ChatServer."""
    sessions: list[pipeline.Session] = []

    def make(**overrides: Any) -> pipeline.Session:
        base: dict[str, Any] = dict(
            api_key="test", base_url=chat_server.base_url, db=str(sample_db_path),
            cache_dir=shared_cache_dir, schemas_dir=empty_schemas_dir, model_retries=0,
            model_timeout=10.0, query_timeout=10.0, max_repairs=2)
        base.update(overrides)
        session = pipeline.open_session(Settings(**base))
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()


def user_texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for m in messages if m["role"] == "user"]


# --------------------------------------------------------------------------- answers


@pytest.mark.parametrize("case", [pytest.param(c, id=c["question"][:40]) for c in CASES])
def test_scripted_answer_matches_gold(case: dict[str, Any], chat_server: ChatServer,
                                      open_session: OpenSession, gold: Any) -> None:
    chat_server.reply(case["reply"], prompt_tokens=1000, completion_tokens=40)
    answer = pipeline.ask(open_session(), case["question"], drafter="model")
    ordered = bool(case.get("ordered"))
    assert normalize(answer.rows, ordered) == normalize(gold(case["gold"]), ordered)
    assert answer.question == case["question"]
    assert answer.drafter.startswith("model:")
    assert [a.ok for a in answer.attempts] == [True]
    assert (answer.prompt_tokens, answer.completion_tokens) == (1000, 40)
    assert len(answer.columns) == len(answer.types) == len(answer.rows[0])
    assert case["question"] in user_texts(chat_server.messages(0))[-1]


def test_answer_json_shape(chat_server: ChatServer, open_session: OpenSession,
                           gold: Any) -> None:
    chat_server.reply(GOOD_COUNT)
    data = pipeline.ask(open_session(), "How many customers?", drafter="model").to_json()
    for key in ("question", "sql", "columns", "rows", "drafter", "attempts", "elapsed_ms",
                "row_count", "tokens", "database"):
        assert key in data
    assert data["rows"] == [list(gold("SELECT count(*) FROM customers")[0])]
    assert data["row_count"] == 1
    assert data["database"] == "shop"


def test_row_limit_applies_to_model_sql(chat_server: ChatServer,
                                        open_session: OpenSession) -> None:
    chat_server.reply(fenced("SELECT * FROM orders"))
    answer = pipeline.ask(open_session(), "Show the orders", drafter="model", row_limit=3)
    assert len(answer.rows) == 3
    assert answer.truncated
    assert any("LIMIT" in n for n in answer.notes)


# --------------------------------------------------------------------------- repair


def test_guard_rejection_is_repaired(chat_server: ChatServer, open_session: OpenSession,
                                     gold: Any) -> None:
    bad = "SELECT custmer_id, count(*) AS n FROM orders GROUP BY 1"
    good = "SELECT customer_id, count(*) AS n FROM orders GROUP BY 1"
    chat_server.reply(fenced(bad), prompt_tokens=100, completion_tokens=10)
    chat_server.reply(fenced(good), prompt_tokens=150, completion_tokens=12)
    answer = pipeline.ask(open_session(), "Orders per customer", drafter="model")

    assert normalize(answer.rows) == normalize(gold(good))
    assert len(answer.attempts) == 2
    first, second = answer.attempts
    assert (first.ok, first.stage) == (False, "guard")
    assert first.sql == bad
    assert first.error and first.error["kind"] == "unknown_identifier"
    assert second.ok
    assert (answer.prompt_tokens, answer.completion_tokens) == (250, 22)

    assert len(chat_server.requests) == 2
    repair_request = chat_server.messages(1)
    assert repair_request[: len(chat_server.messages(0))] == chat_server.messages(0)
    text = "\n".join(m["content"] for m in repair_request)
    assert bad in text, "the first draft goes back to the model"
    assert "did you mean `customer_id`" in user_texts(repair_request)[-1]
    assert any(m["role"] == "assistant" and bad in m["content"] for m in repair_request)


def test_syntax_error_is_repaired(chat_server: ChatServer, open_session: OpenSession,
                                  gold: Any) -> None:
    """A model draft that does not parse goes back for repair like a refusal, with where
    parsing stopped; the attempt records the syntax error."""
    bad = "SELECT count(* FROM customers"
    chat_server.reply(fenced(bad))
    chat_server.reply(GOOD_COUNT)
    answer = pipeline.ask(open_session(), "How many customers?", drafter="model")
    assert answer.rows == gold("SELECT count(*) FROM customers")
    assert [(a.ok, a.stage) for a in answer.attempts] == [(False, "guard"), (True, None)]
    assert answer.attempts[0].error and answer.attempts[0].error["kind"] == "syntax"
    repair_text = user_texts(chat_server.messages(1))[-1]
    assert "syntax error at line 1" in repair_text and "Expecting )" in repair_text


def test_syntax_error_after_the_last_repair_is_raised(chat_server: ChatServer,
                                                      open_session: OpenSession) -> None:
    chat_server.reply(fenced("SELECT count(* FROM customers"))
    with pytest.raises(InvalidSQL) as info:
        pipeline.ask(open_session(max_repairs=0), "How many customers?", drafter="model")
    assert info.value.exit_code == 2 and len(info.value.details["attempts"]) == 1


@pytest.mark.parametrize(("bad", "error_text"), [
    ("SELECT CAST('abc' AS INTEGER) AS n", "Conversion Error"),
    ("SELECT 'a' + 1 AS n", "Binder Error"),
    ("SELECT avg(status) AS n FROM orders", "Error"),
])
def test_execution_error_is_repaired(chat_server: ChatServer, open_session: OpenSession,
                                     gold: Any, bad: str, error_text: str) -> None:
    chat_server.reply(fenced(bad))
    chat_server.reply(GOOD_COUNT)
    answer = pipeline.ask(open_session(), "How many customers?", drafter="model")
    assert answer.rows == gold("SELECT count(*) FROM customers")
    assert [(a.ok, a.stage) for a in answer.attempts] == [(False, "execute"), (True, None)]
    assert answer.attempts[0].error["kind"] == "execution"
    repair_text = user_texts(chat_server.messages(1))[-1]
    assert error_text in repair_text
    assert any(m["role"] == "assistant" and bad in m["content"]
               for m in chat_server.messages(1))


def test_repairs_are_capped(chat_server: ChatServer, open_session: OpenSession) -> None:
    for _ in range(3):
        chat_server.reply(fenced("SELECT nope FROM orders"), prompt_tokens=10,
                          completion_tokens=2)
    chat_server.reply(GOOD_COUNT)  # a 4th, good reply that must never be asked for
    with pytest.raises(UnsafeSQL) as info:
        pipeline.ask(open_session(max_repairs=2), "How many customers?", drafter="model")
    attempts = info.value.details["attempts"]
    assert len(attempts) == 3
    assert not any(a["ok"] for a in attempts)
    assert info.value.details["tokens"] == {"prompt": 30, "completion": 6}
    assert len(chat_server.requests) == 3
    assert chat_server.pending() == 1


def test_no_repairs_when_max_repairs_is_zero(chat_server: ChatServer,
                                             open_session: OpenSession) -> None:
    chat_server.reply(fenced("SELECT CAST('x' AS INTEGER)"))
    with pytest.raises(ExecutionError) as info:
        pipeline.ask(open_session(max_repairs=0), "How many customers?", drafter="model")
    assert len(info.value.details["attempts"]) == 1
    assert len(chat_server.requests) == 1


@pytest.mark.slow  # waits for a real timeout
def test_timeouts_are_not_repaired(chat_server: ChatServer, open_session: OpenSession) -> None:
    chat_server.reply(fenced(SLOW_SQL))
    chat_server.reply(GOOD_COUNT)
    with pytest.raises(QueryTimeout) as info:
        pipeline.ask(open_session(query_timeout=0.3), "Sum of products", drafter="model")
    assert len(info.value.details["attempts"]) == 1
    assert len(chat_server.requests) == 1


def test_refusal_is_not_executed(chat_server: ChatServer, open_session: OpenSession) -> None:
    chat_server.reply("CANNOT ANSWER: the database has no weather data.")
    with pytest.raises(ModelRefused) as info:
        pipeline.ask(open_session(), "What was the weather in Shanghai?", drafter="model")
    assert "weather" in info.value.message
    assert len(chat_server.requests) == 1


def test_model_failure_is_a_model_error(chat_server: ChatServer,
                                        open_session: OpenSession) -> None:
    chat_server.garbage()
    with pytest.raises(ModelError):
        pipeline.ask(open_session(), "How many customers?", drafter="model")


def test_model_drafter_needs_a_key_or_url(sample_db_path: Path, shared_cache_dir: Path,
                                          empty_schemas_dir: Path) -> None:
    settings = Settings(db=str(sample_db_path), cache_dir=shared_cache_dir,
                        schemas_dir=empty_schemas_dir)
    with pipeline.open_session(settings) as session, pytest.raises(ConfigError):
        pipeline.ask(session, "How many customers?", drafter="model")


@pytest.mark.parametrize("question", ["", "   \n ", "x" * 2001])
def test_bad_questions_are_config_errors(open_session: OpenSession, question: str) -> None:
    with pytest.raises(ConfigError):
        pipeline.ask(open_session(), question, drafter="model")


# --------------------------------------------------------------------------- the prompt


def test_prompt_contents(chat_server: ChatServer, open_session: OpenSession) -> None:
    chat_server.reply(GOOD_COUNT)
    question = "How many customers signed up in 2024?"
    pipeline.ask(open_session(), question, drafter="model")
    messages = chat_server.messages(0)
    assert messages[0]["role"] == "system"
    assert messages[-1]["role"] == "user"
    assert question in messages[-1]["content"]
    text = "\n".join(m["content"] for m in messages)
    for table in ("customers", "orders", "order_items", "products", "agents", "reviews",
                  "support_tickets"):
        assert f"CREATE TABLE {table}" in text
    assert "PRIMARY KEY (order_id, line_no)" in text
    assert "REFERENCES customers(customer_id)" in text
    assert "DuckDB" in text
    assert "CANNOT ANSWER" in text
    assert '"delivered"' in text and '"cancelled"' in text  # frequent values
    assert "Order status" in text  # column comments from the database


def test_follow_up_questions_carry_the_conversation(chat_server: ChatServer,
                                                    open_session: OpenSession) -> None:
    chat_server.reply(fenced("SELECT count(*) FROM customers WHERE city = 'Beijing'"))
    earlier = [Turn("How many customers in Shanghai?",
                    "SELECT count(*) FROM customers WHERE city = 'Shanghai'")]
    answer = pipeline.ask(open_session(), "And in Beijing?", conversation=earlier,
                          drafter="model")
    assert answer.rows[0][0] > 0
    text = "\n".join(m["content"] for m in chat_server.messages(0))
    assert "How many customers in Shanghai?" in text
    assert "city = 'Shanghai'" in text


@pytest.mark.parametrize("schemas", ["none", "project"])
def test_prompt_carries_no_personal_data_rows(chat_server: ChatServer,
                                              open_session: OpenSession,
                                              sample_db_path: Path, schemas: str) -> None:
    from nl2sql.settings import Settings as _S

    overrides: dict[str, Any] = {} if schemas == "none" else {"schemas_dir": _S().schemas_dir}
    chat_server.reply(fenced("SELECT customer_id FROM customers WHERE phone = 'x'"))
    chat_server.reply(GOOD_COUNT)
    pipeline.ask(open_session(**overrides), "客户的手机号和邮箱是什么？ phone and e-mail of customers",
                 drafter="model")
    sent = chat_server.all_text()

    con = duckdb.connect(str(sample_db_path), read_only=True)
    try:
        agents = {r[0] for r in con.execute("SELECT name FROM agents").fetchall()}
        private = {
            "phone": [r[0] for r in con.execute("SELECT phone FROM customers").fetchall()],
            "email": [r[0] for r in con.execute("SELECT email FROM customers").fetchall()],
            "id_number": [r[0] for r in con.execute(
                "SELECT id_number FROM customers").fetchall()],
            "customer name": [r[0] for r in con.execute(
                "SELECT name FROM customers").fetchall() if r[0] not in agents],
            "review": [r[0][:30] for r in con.execute(
                "SELECT review_text FROM reviews WHERE length(review_text) > 20").fetchall()],
            "transcript": [r[0][:30] for r in con.execute(
                "SELECT transcript FROM support_tickets").fetchall()],
        }
    finally:
        con.close()
    for kind, values in private.items():
        leaked = [v for v in values if v and v in sent]
        assert not leaked, f"{len(leaked)} {kind} value(s) sent to the model, e.g. {leaked[:3]}"
    assert "ignore previous instructions" not in sent.lower()


def test_awkward_names_end_to_end(odd_db_path: Path, tmp_path: Path,
                                  empty_schemas_dir: Path) -> None:
    """Spaces, a keyword, Chinese names and a view work; other schemas stay out of reach."""
    settings = Settings(db=str(odd_db_path), cache_dir=tmp_path / "cache",
                        schemas_dir=empty_schemas_dir)
    with pipeline.open_session(settings) as session:
        answer = pipeline.run_sql(session, 'SELECT "Unit Price", "select", CamelCase '
                                           'FROM "Order Details" ORDER BY id')
        assert answer.rows == [(decimal.Decimal("9.50"), "a", 3), (decimal.Decimal("1.00"), "b", 4)]
        answer = pipeline.run_sql(session, "SELECT 城市, sum(金额) AS 合计 FROM 订单 "
                                           "GROUP BY 城市 ORDER BY 城市")
        assert sorted(answer.rows) == [("上海", 40.0), ("北京", 20.0)]
        assert pipeline.run_sql(session, "SELECT count(*) FROM big_orders").rows == [(2,)]
        with pytest.raises(UnsafeSQL):
            pipeline.run_sql(session, "SELECT * FROM other.secret")


def test_prompt_quotes_identifiers_that_need_it(odd_db_path: Path, tmp_path: Path,
                                                empty_schemas_dir: Path) -> None:
    import re

    from nl2sql.drafting import context, prompt

    settings = Settings(db=str(odd_db_path), cache_dir=tmp_path / "cache",
                        schemas_dir=empty_schemas_dir)
    with pipeline.open_session(settings) as session:
        ddl = prompt.schema_text(context.select("anything", session.catalog))
    assert 'CREATE TABLE "Order Details"' in ddl
    assert re.search(r'^\s+"Unit Price" ', ddl, re.M)
    assert re.search(r'^\s+"select" VARCHAR', ddl, re.M), "a keyword must be quoted:\n" + ddl
    assert "CREATE VIEW big_orders" in ddl
    assert "secret" not in ddl
