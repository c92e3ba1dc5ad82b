"""End to end through the ``nl2sql`` command: formats, commands and every exit code.

Each run happens in a fresh cwd (no ``.env``) with no OPENAI_* / NL2SQL_* settings from
the outer environment (``isolated_env``), and every run fails the test if a Python
traceback reaches stdout or stderr. Errors in text mode must be exactly one line.
"""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from chat_server import ChatServer

if TYPE_CHECKING:
    from conftest import IsolatedEnv

REPO_ROOT = Path(__file__).resolve().parent.parent

STATUS_SQL = "SELECT status, count(*) AS n FROM orders GROUP BY status ORDER BY status"
SLOW_SQL = ("SELECT sum(a.quantity * b.quantity * c.quantity) AS s "
            "FROM order_items a, order_items b, order_items c")
NO_TRACEBACK = "Traceback (most recent call last)"
ANSWER_KEYS = ("question", "sql", "columns", "rows", "drafter", "attempts", "elapsed_ms")


def assert_text_error(result: Any, code: int, kind: str | None = None) -> str:
    """Exit ``code``, nothing on stdout, one ``error (kind): ...`` line on stderr."""
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"error is not one line:\n{result.stderr}"
    assert lines[0].startswith("error ("), lines[0]
    if kind is not None:
        assert lines[0].startswith(f"error ({kind})"), lines[0]
    assert result.stdout.strip() == ""
    return lines[0]


def json_error(result: Any, code: int) -> dict[str, Any]:
    """Exit ``code`` and a ``{"error": {"kind", "message", ...}}`` object on stdout."""
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    data = json.loads(result.stdout)
    assert set(data) == {"error"}
    error = data["error"]
    assert {"kind", "message"} <= set(error)
    assert isinstance(error["message"], str) and error["message"]
    return error


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def model_env(server: ChatServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": server.base_url,
            "NL2SQL_MODEL_RETRIES": "0", "NL2SQL_MODEL_TIMEOUT": "10"}


# --------------------------------------------------------------------------- sql, formats


def test_sql_csv(isolated_env: IsolatedEnv, sample_db_path: Path, gold: Any) -> None:
    result = isolated_env.run("sql", STATUS_SQL, "--db", str(sample_db_path), "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["status", "n"]
    assert rows[1:] == [[s, str(n)] for s, n in gold(STATUS_SQL)]
    assert result.stderr == ""


def test_sql_json(isolated_env: IsolatedEnv, sample_db_path: Path, gold: Any) -> None:
    result = isolated_env.run("sql", STATUS_SQL, "--db", str(sample_db_path), "-f", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ANSWER_KEYS:
        assert key in data, key
    assert data["question"] is None
    assert data["columns"] == ["status", "n"]
    assert data["rows"] == [list(r) for r in gold(STATUS_SQL)]
    assert data["drafter"] == "user"
    assert isinstance(data["attempts"], list) and data["attempts"][0]["ok"] is True
    assert isinstance(data["elapsed_ms"], int | float)
    assert "LIMIT" in data["sql"]


def test_sql_markdown(isolated_env: IsolatedEnv, sample_db_path: Path, gold: Any) -> None:
    result = isolated_env.run("sql", STATUS_SQL, "--db", str(sample_db_path), "-f", "markdown")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "| status | n |"
    assert re.fullmatch(r"\|\s*:?-{3,}:?\s*\|\s*:?-{3,}:?\s*\|", lines[1]), lines[1]
    assert lines[2:] == [f"| {s} | {n} |" for s, n in gold(STATUS_SQL)]


def test_sql_table(isolated_env: IsolatedEnv, sample_db_path: Path, gold: Any) -> None:
    result = isolated_env.run("sql", STATUS_SQL, "--db", str(sample_db_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "status" in out and "SELECT" in out
    for status, n in gold(STATUS_SQL):
        assert re.search(rf"\b{status}\b.*\b{n}\b", out), status
    assert "5 rows" in out


def test_sql_json_values_are_json_types(isolated_env: IsolatedEnv, sample_db_path: Path,
                                        gold: Any) -> None:
    sql = ("SELECT order_id, order_date, CAST(order_date AS DATE) AS day, total_amount, "
           "NULL AS nothing FROM orders ORDER BY order_id LIMIT 1")
    result = isolated_env.run("sql", sql, "--db", str(sample_db_path), "-f", "json")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)["rows"]
    (expected,) = gold(sql)
    assert row[0] == expected[0]
    assert row[1] == expected[1].isoformat()
    assert row[2] == expected[2].isoformat()
    assert row[3] == pytest.approx(float(expected[3]))
    assert row[4] is None


def test_sql_csv_quoting_and_nulls(isolated_env: IsolatedEnv, sample_db_path: Path) -> None:
    sql = "SELECT NULL AS a, 'x,y' AS b, 'say \"hi\"' AS c, '上海' AS d"
    result = isolated_env.run("sql", sql, "--db", str(sample_db_path), "-f", "csv")
    assert result.returncode == 0, result.stderr
    assert list(csv.reader(io.StringIO(result.stdout))) == [["a", "b", "c", "d"],
                                                           ["", "x,y", 'say "hi"', "上海"]]


def test_sql_limit_flag(isolated_env: IsolatedEnv, sample_db_path: Path) -> None:
    result = isolated_env.run("sql", "SELECT * FROM orders", "--db", str(sample_db_path),
                              "--limit", "2", "-f", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["rows"]) == 2
    assert data["truncated"] is True


def test_db_from_environment(isolated_env: IsolatedEnv, sample_db_path: Path) -> None:
    result = isolated_env.run("sql", "SELECT count(*) AS n FROM agents", "-f", "csv",
                              env={"NL2SQL_DB": str(sample_db_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "n"


def test_env_file_in_cwd_is_read(isolated_env: IsolatedEnv, sample_db_path: Path) -> None:
    (isolated_env.cwd / ".env").write_text(f"NL2SQL_DB={sample_db_path}\nNL2SQL_ROW_LIMIT=3\n")
    result = isolated_env.run("sql", "SELECT * FROM orders", "-f", "json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["rows"]) == 3


def test_sql_on_chinook(isolated_env: IsolatedEnv, chinook_path: Path) -> None:
    sql = "SELECT BillingCountry, count(*) AS n FROM Invoice GROUP BY 1 ORDER BY n DESC, 1"
    result = isolated_env.run("sql", sql, "--db", str(chinook_path), "-f", "json")
    assert result.returncode == 0, result.stderr
    con = sqlite3.connect(f"file:{chinook_path}?mode=ro", uri=True)
    try:
        expected = [list(r) for r in con.execute(sql).fetchall()]
    finally:
        con.close()
    assert json.loads(result.stdout)["rows"] == expected


def test_json_output_is_strict_json(isolated_env: IsolatedEnv, sample_db_path: Path) -> None:
    """``--format json`` must parse with a strict (RFC 8259) parser: no NaN/Infinity."""
    sql = "SELECT 'inf'::DOUBLE AS up, '-inf'::DOUBLE AS down, 'nan'::DOUBLE AS nothing"
    result = isolated_env.run("sql", sql, "--db", str(sample_db_path), "-f", "json")
    assert result.returncode == 0, result.stderr

    def refuse(token: str) -> Any:
        raise ValueError(f"{token} is not JSON")

    data = json.loads(result.stdout, parse_constant=refuse)
    assert len(data["rows"]) == 1


def test_json_output_of_nested_and_odd_types(isolated_env: IsolatedEnv,
                                             sample_db_path: Path) -> None:
    sql = ("SELECT [1, 2] AS l, {'a': 'x'} AS s, MAP {'k': 'v'} AS m, INTERVAL 3 DAY AS i, "
           "'ab'::BLOB AS b, TIME '12:30:00' AS t, 12345678901234567890::HUGEINT AS h")
    result = isolated_env.run("sql", sql, "--db", str(sample_db_path), "-f", "json")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)["rows"]
    assert row[0] == [1, 2]
    assert row[1] == {"a": "x"}
    assert row[2] == {"k": "v"}
    assert isinstance(row[3], str) and isinstance(row[4], str)
    assert row[5] == "12:30:00"
    assert row[6] == 12345678901234567890


def test_table_output_with_markup_like_text(isolated_env: IsolatedEnv,
                                            sample_db_path: Path) -> None:
    """Names and values that look like rich markup are printed as they are."""
    sql = 'SELECT 1 AS "[/]", 2 AS "[bold]b", \'[/]\' AS v, \'[red]x\' AS w'
    result = isolated_env.run("sql", sql, "--db", str(sample_db_path))
    assert result.returncode == 0, result.stderr
    for text in ("[/]", "[bold]b", "[red]x"):
        assert text in result.stdout


def test_question_with_markup_like_text(isolated_env: IsolatedEnv, sample_db_path: Path,
                                        chat_server: ChatServer) -> None:
    chat_server.reply("SELECT count(*) AS n FROM orders")
    question = "How many orders [/] are there [bold]now?"
    result = isolated_env.run("ask", question, "--db", str(sample_db_path), "--drafter",
                              "model", env=model_env(chat_server))
    assert result.returncode == 0, result.stderr
    assert question in result.stdout


# --------------------------------------------------------------------------- schema


def test_schema_json(isolated_env: IsolatedEnv, sample_db_path: Path) -> None:
    result = isolated_env.run("schema", "--db", str(sample_db_path), "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["name"] == "shop"
    assert set(data["tables"]) == {"customers", "products", "orders", "order_items", "agents",
                                   "reviews", "support_tickets"}
    orders = data["tables"]["orders"]
    assert "status" in [c["name"] for c in orders["columns"]]
    assert data["tables"]["order_items"]["primary_key"] == ["order_id", "line_no"]


def test_schema_text(isolated_env: IsolatedEnv, sample_db_path: Path) -> None:
    result = isolated_env.run("schema", "--db", str(sample_db_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("-- database shop")
    for table in ("customers", "orders", "order_items", "support_tickets"):
        assert f"CREATE TABLE {table}" in result.stdout


def test_schema_chinook_json(isolated_env: IsolatedEnv, chinook_path: Path) -> None:
    result = isolated_env.run("schema", "--db", str(chinook_path), "-f", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"Album", "Artist", "Invoice", "Track"} <= set(data["tables"])
    assert data["dialect"] == "sqlite"


# --------------------------------------------------------------------------- ask (model)


def test_ask_with_model(isolated_env: IsolatedEnv, sample_db_path: Path,
                        chat_server: ChatServer, gold: Any) -> None:
    chat_server.reply("```sql\nSELECT city, count(*) AS n FROM customers GROUP BY city "
                      "ORDER BY n DESC, city\n```", prompt_tokens=900, completion_tokens=30)
    result = isolated_env.run("ask", "每个城市有多少客户？", "--db", str(sample_db_path),
                              "--drafter", "model", "-f", "json", env=model_env(chat_server))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ANSWER_KEYS:
        assert key in data, key
    assert data["question"] == "每个城市有多少客户？"
    assert data["drafter"].startswith("model:")
    assert data["rows"] == [list(r) for r in gold(
        "SELECT city, count(*) FROM customers GROUP BY 1 ORDER BY 2 DESC, 1")]
    assert data["tokens"] == {"prompt": 900, "completion": 30}
    assert len(chat_server.requests) == 1
    assert "每个城市有多少客户？" in chat_server.all_text()


def test_ask_auto_uses_the_model_when_a_key_is_set(isolated_env: IsolatedEnv,
                                                   sample_db_path: Path,
                                                   chat_server: ChatServer) -> None:
    chat_server.reply("SELECT count(*) AS n FROM orders")
    result = isolated_env.run("ask", "How many orders?", "--db", str(sample_db_path),
                              "-f", "csv", env=model_env(chat_server))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "n"
    assert len(chat_server.requests) == 1


def test_ask_repairs_through_the_cli(isolated_env: IsolatedEnv, sample_db_path: Path,
                                     chat_server: ChatServer) -> None:
    chat_server.reply("```sql\nSELECT count(*) AS n FROM custmers\n```")
    chat_server.reply("```sql\nSELECT count(*) AS n FROM customers\n```")
    result = isolated_env.run("ask", "How many customers?", "--db", str(sample_db_path),
                              "--drafter", "model", "-f", "json", env=model_env(chat_server))
    assert result.returncode == 0, result.stderr
    attempts = json.loads(result.stdout)["attempts"]
    assert [a["ok"] for a in attempts] == [False, True]


def test_ask_table_format(isolated_env: IsolatedEnv, sample_db_path: Path,
                          chat_server: ChatServer) -> None:
    chat_server.reply("SELECT vip_level, count(*) AS n FROM customers GROUP BY 1")
    result = isolated_env.run("ask", "Customers per VIP level", "--db", str(sample_db_path),
                              "--drafter", "model", env=model_env(chat_server))
    assert result.returncode == 0, result.stderr
    assert "Customers per VIP level" in result.stdout
    assert "platinum" in result.stdout
    assert "drafter: model:" in result.stdout


def test_ask_offline_by_default_does_not_crash(isolated_env: IsolatedEnv,
                                               sample_db_path: Path) -> None:
    """No key: ``auto`` means the offline drafter; it answers (0) or declines (6)."""
    result = isolated_env.run("ask", "How many customers are there?", "--db",
                              str(sample_db_path), "-f", "json")
    assert result.returncode in (0, 6), result.stderr
    data = json.loads(result.stdout)
    assert "rows" in data or data["error"]["kind"] == "declined"


# --------------------------------------------------------------------------- exit code 2


def test_exit_2_bad_flag(isolated_env: IsolatedEnv, sample_db_path: Path) -> None:
    result = isolated_env.run("sql", "SELECT 1", "--db", str(sample_db_path), "--bogus")
    assert result.returncode == 2
    assert "--bogus" in result.stderr
    assert result.stdout == ""


def test_exit_2_unknown_command(isolated_env: IsolatedEnv) -> None:
    result = isolated_env.run("frobnicate")
    assert result.returncode == 2
    assert "frobnicate" in result.stderr


def test_exit_2_limit_below_one(isolated_env: IsolatedEnv, sample_db_path: Path) -> None:
    result = isolated_env.run("sql", "SELECT 1", "--db", str(sample_db_path), "--limit", "0")
    assert result.returncode == 2


@pytest.mark.parametrize("args", [
    ["sql", "SELECT 1", "--format", "xml"],
    ["ask", "How many customers?", "--format", "yaml"],
    ["schema", "--format", "csv"],
], ids=["sql-xml", "ask-yaml", "schema-csv"])
def test_exit_2_bad_format(isolated_env: IsolatedEnv, sample_db_path: Path,
                           args: list[str]) -> None:
    result = isolated_env.run(*args, "--db", str(sample_db_path))
    line = assert_text_error(result, 2, "config")
    assert "--format" in line


@pytest.mark.parametrize("command", [["sql", "SELECT 1"], ["ask", "How many customers?"]])
def test_exit_2_missing_db(isolated_env: IsolatedEnv, command: list[str]) -> None:
    missing = isolated_env.cwd / "nope.duckdb"
    result = isolated_env.run(*command, "--db", str(missing))
    line = assert_text_error(result, 2, "config")
    assert "nope.duckdb" in line


def test_exit_2_missing_db_json(isolated_env: IsolatedEnv) -> None:
    result = isolated_env.run("sql", "SELECT 1", "--db", "nope.duckdb", "-f", "json")
    assert json_error(result, 2)["kind"] == "config"


def test_exit_2_not_a_database(isolated_env: IsolatedEnv) -> None:
    junk = isolated_env.cwd / "junk.duckdb"
    junk.write_text("this is not a database file\n" * 10)
    assert_text_error(isolated_env.run("sql", "SELECT 1", "--db", str(junk)), 2, "config")


def test_exit_2_broken_env_file(isolated_env: IsolatedEnv, sample_db_path: Path) -> None:
    (isolated_env.cwd / ".env").write_text("NL2SQL_ROW_LIMIT=5\nthis line is broken\n")
    result = isolated_env.run("sql", "SELECT 1", "--db", str(sample_db_path))
    line = assert_text_error(result, 2, "config")
    assert ".env:2" in line


@pytest.mark.parametrize("env", [
    {"NL2SQL_ROW_LIMIT": "abc"},
    {"NL2SQL_DRAFTER": "psychic"},
    {"OPENAI_BASE_URL": "localhost:11434"},
    {"NL2SQL_QUERY_TIMEOUT": "-5"},
    {"NL2SQL_MEMORY_LIMIT": "lots"},
    {"NL2SQL_MEMORY_LIMIT": "2GB;x"},
    {"NL2SQL_ROW_LIMIT": "99999999999999999999"},
], ids=["row-limit", "drafter", "base-url", "timeout", "memory-word", "memory-junk",
        "row-limit-huge"])
def test_exit_2_bad_settings(isolated_env: IsolatedEnv, sample_db_path: Path,
                             env: dict[str, str]) -> None:
    result = isolated_env.run("sql", "SELECT 1", "--db", str(sample_db_path), env=env)
    assert_text_error(result, 2, "config")


def test_exit_2_model_drafter_without_key(isolated_env: IsolatedEnv,
                                          sample_db_path: Path) -> None:
    result = isolated_env.run("ask", "How many customers?", "--db", str(sample_db_path),
                              "--drafter", "model")
    line = assert_text_error(result, 2, "config")
    assert "OPENAI_API_KEY" in line


# --------------------------------------------------------------------------- exit code 3


@pytest.mark.parametrize(("sql", "rule", "fmt"), [
    ("DROP TABLE orders", "read_only", "text"),
    ("DROP TABLE orders", "read_only", "json"),
    ("SELECT 1; SELECT 2", "single_statement", "text"),
    ("SELECT * FROM read_csv('/etc/passwd')", "function", "text"),
    ("SELECT * FROM read_csv('/etc/passwd')", "function", "json"),
    ("SELECT * FROM information_schema.tables", "catalog", "json"),
    ("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT * FROM t",
     "recursive_cte", "text"),
    # broken text that is unsafe on its face is still a refusal, not a syntax error
    ("SELECT 1 UNION ALL DROP TABLE orders", "read_only", "json"),
])
def test_exit_3_guard_refusal(isolated_env: IsolatedEnv, sample_db_path: Path, sql: str,
                              rule: str, fmt: str) -> None:
    result = isolated_env.run("sql", sql, "--db", str(sample_db_path), "-f",
                              "table" if fmt == "text" else "json")
    if fmt == "text":
        line = assert_text_error(result, 3, "unsafe_sql")
        assert rule in line
    else:
        error = json_error(result, 3)
        assert error["kind"] == "unsafe_sql"
        assert error["rule"] == rule
        assert result.stderr.strip() == ""


def test_exit_3_unknown_column_json(isolated_env: IsolatedEnv, sample_db_path: Path) -> None:
    result = isolated_env.run("sql", "SELECT custmer_id FROM orders", "--db",
                              str(sample_db_path), "-f", "json")
    error = json_error(result, 3)
    assert error["kind"] == "unknown_identifier"
    assert error["rule"] == "unknown_identifier"
    assert "did you mean `customer_id`" in error["message"]
    assert error["suggestions"] == ["customer_id"]


def test_exit_3_model_sql_refused_after_repairs(isolated_env: IsolatedEnv,
                                                sample_db_path: Path,
                                                chat_server: ChatServer) -> None:
    for _ in range(2):
        chat_server.reply("```sql\nDELETE FROM orders\n```")
    env = {**model_env(chat_server), "NL2SQL_MAX_REPAIRS": "1"}
    result = isolated_env.run("ask", "Delete all orders", "--db", str(sample_db_path),
                              "--drafter", "model", "-f", "json", env=env)
    error = json_error(result, 3)
    assert error["rule"] == "read_only"
    assert len(error["attempts"]) == 2


# --------------------------------------------------------------------------- exit code 4


def test_exit_4_execution_error(isolated_env: IsolatedEnv, sample_db_path: Path) -> None:
    sql = "SELECT CAST('abc' AS INTEGER) AS n"
    line = assert_text_error(isolated_env.run("sql", sql, "--db", str(sample_db_path)), 4,
                             "execution")
    assert "Conversion Error" in line
    error = json_error(isolated_env.run("sql", sql, "--db", str(sample_db_path), "-f",
                                        "json"), 4)
    assert error["kind"] == "execution"


@pytest.mark.slow  # waits for a real timeout
def test_exit_4_timeout(isolated_env: IsolatedEnv, sample_db_path: Path) -> None:
    started = time.perf_counter()
    result = isolated_env.run("sql", SLOW_SQL, "--db", str(sample_db_path),
                              env={"NL2SQL_QUERY_TIMEOUT": "0.5"})
    assert time.perf_counter() - started < 20
    line = assert_text_error(result, 4, "timeout")
    assert "0.5" in line


# --------------------------------------------------------------------------- exit code 5


def test_exit_5_model_unreachable(isolated_env: IsolatedEnv, sample_db_path: Path) -> None:
    port = closed_port()
    env = {"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
           "NL2SQL_MODEL_RETRIES": "0", "NL2SQL_MODEL_TIMEOUT": "5"}
    result = isolated_env.run("ask", "How many customers?", "--db", str(sample_db_path),
                              "--drafter", "model", env=env)
    line = assert_text_error(result, 5, "model")
    assert str(port) in line


def test_exit_5_garbage_reply(isolated_env: IsolatedEnv, sample_db_path: Path,
                              chat_server: ChatServer) -> None:
    chat_server.garbage(b"<html>surprise</html>")
    result = isolated_env.run("ask", "How many customers?", "--db", str(sample_db_path),
                              "--drafter", "model", env=model_env(chat_server))
    assert_text_error(result, 5, "model")


def test_exit_5_garbage_reply_json(isolated_env: IsolatedEnv, sample_db_path: Path,
                                   chat_server: ChatServer) -> None:
    chat_server.garbage(b'{"choices": []}')
    result = isolated_env.run("ask", "How many customers?", "--db", str(sample_db_path),
                              "--drafter", "model", "-f", "json", env=model_env(chat_server))
    assert json_error(result, 5)["kind"] == "model"


@pytest.mark.slow  # waits for a real timeout
def test_exit_5_model_timeout(isolated_env: IsolatedEnv, sample_db_path: Path,
                              chat_server: ChatServer) -> None:
    chat_server.hang(20)
    env = {**model_env(chat_server), "NL2SQL_MODEL_TIMEOUT": "0.5"}
    started = time.perf_counter()
    result = isolated_env.run("ask", "How many customers?", "--db", str(sample_db_path),
                              "--drafter", "model", env=env)
    assert time.perf_counter() - started < 15
    assert_text_error(result, 5, "model")


def test_exit_5_model_refusal(isolated_env: IsolatedEnv, sample_db_path: Path,
                              chat_server: ChatServer) -> None:
    chat_server.reply("CANNOT ANSWER: there is no weather data.")
    result = isolated_env.run("ask", "Weather in Beijing?", "--db", str(sample_db_path),
                              "--drafter", "model", env=model_env(chat_server))
    line = assert_text_error(result, 5, "model_refused")
    assert "weather" in line


def test_exit_5_server_error_with_multiline_text(isolated_env: IsolatedEnv,
                                                 sample_db_path: Path,
                                                 chat_server: ChatServer) -> None:
    chat_server.fail(400, message="bad request\ncontext length exceeded\nsee docs")
    result = isolated_env.run("ask", "How many customers?", "--db", str(sample_db_path),
                              "--drafter", "model", env=model_env(chat_server))
    assert_text_error(result, 5, "model")


# --------------------------------------------------------------------------- exit code 130


@pytest.mark.slow
def test_exit_130_ctrl_c_during_a_query(isolated_env: IsolatedEnv, sample_db_path: Path) -> None:
    code, out, err = isolated_env.interrupted(
        "sql", SLOW_SQL, "--db", str(sample_db_path), env={"NL2SQL_QUERY_TIMEOUT": "30"},
        when=lambda _proc: time.sleep(2.0))  # imports, introspection, then the slow query
    assert code == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error (interrupted)"), err
    assert out == ""


def test_exit_130_ctrl_c_while_the_cli_loads(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C in the first few hundred milliseconds lands while the CLI's modules load,
    before the CLI's own handler exists: the program still ends with one line and 130."""
    import importlib.abc
    import sys

    import nl2sql.__main__ as program
    from nl2sql.errors import Interrupted

    class CtrlCOnLoad(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: object, target: object = None) -> None:
            if name == "nl2sql.interfaces.cli":
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, "nl2sql.interfaces.cli")
    monkeypatch.setattr(sys, "meta_path", [CtrlCOnLoad(), *sys.meta_path])
    with pytest.raises(SystemExit) as exit_:
        program.main()
    assert exit_.value.code == Interrupted.exit_code == program.INTERRUPTED_EXIT
    err = capsys.readouterr().err
    assert err == "error (interrupted): interrupted\n"


# --------------------------------------------------------------------------- one-line errors


def test_identifier_with_newline_error_is_one_line(isolated_env: IsolatedEnv,
                                                   sample_db_path: Path) -> None:
    result = isolated_env.run("sql", 'SELECT * FROM "cust\nomers"', "--db", str(sample_db_path))
    assert_text_error(result, 3, "unknown_identifier")


@pytest.mark.parametrize("sql", ["", "   \n "])
def test_empty_sql_is_config_error(isolated_env: IsolatedEnv, sample_db_path: Path,
                                   sql: str) -> None:
    """Like an empty question: an input error (exit 2), not a guard refusal (exit 3)."""
    line = assert_text_error(isolated_env.run("sql", sql, "--db", str(sample_db_path)), 2,
                             "config")
    assert "the SQL is empty" in line
    error = json_error(isolated_env.run("sql", sql, "--db", str(sample_db_path), "-f", "json"),
                       2)
    assert error["kind"] == "config"


def test_syntax_error_is_an_input_error(isolated_env: IsolatedEnv,
                                        sample_db_path: Path) -> None:
    """A typo is reported as a syntax error (exit 2, kind "syntax"), with where parsing
    stopped, not as a safety refusal."""
    sql = "SELEC * FROM orders"
    line = assert_text_error(isolated_env.run("sql", sql, "--db", str(sample_db_path)), 2,
                             "syntax")
    assert "line 1, column 12" in line and "did you mean SELECT" in line
    error = json_error(isolated_env.run("sql", sql, "--db", str(sample_db_path), "-f", "json"),
                       2)
    assert (error["kind"], error["rule"], error["line"]) == ("syntax", "syntax", 1)
    assert error["column"] == 12


def test_empty_question_is_config_error(isolated_env: IsolatedEnv, sample_db_path: Path,
                                        chat_server: ChatServer) -> None:
    result = isolated_env.run("ask", "   ", "--db", str(sample_db_path), "--drafter", "model",
                              env=model_env(chat_server))
    assert_text_error(result, 2, "config")
    assert chat_server.requests == []


# --------------------------------------------------------------------------- sample-db


@pytest.mark.slow
def test_sample_db_command(isolated_env: IsolatedEnv) -> None:
    out = isolated_env.cwd / "tiny" / "shop.duckdb"
    result = isolated_env.run("sample-db", "--scale", "0.01", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.is_file()
    assert str(out) in result.stdout
    query = isolated_env.run("sql", "SELECT count(*) AS n FROM orders", "--db", str(out),
                             "-f", "csv")
    assert query.returncode == 0, query.stderr
    assert int(query.stdout.splitlines()[1]) > 0


def test_sample_db_bad_scale(isolated_env: IsolatedEnv) -> None:
    result = isolated_env.run("sample-db", "--scale", "0", "--out",
                              str(isolated_env.cwd / "x.duckdb"))
    assert result.returncode == 2


# --------------------------------------------------------------------------- help and README


def cli_commands() -> list[str]:
    import typer

    from nl2sql.interfaces.cli import app

    group: Any = typer.main.get_command(app)
    return sorted(group.commands)


def test_top_level_help(isolated_env: IsolatedEnv) -> None:
    # a real process: the installed console script starts and finds its entry point
    result = isolated_env.run_process("--help")
    assert result.returncode == 0
    assert "Example:" in result.stdout
    for name in cli_commands():
        assert name in result.stdout


@pytest.mark.parametrize("command", cli_commands())
def test_every_command_has_help_with_an_example(command: str) -> None:
    from typer.testing import CliRunner

    from nl2sql.interfaces.cli import app

    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^\s*Example:\s*nl2sql " + re.escape(command), result.output, re.M), \
        result.output


def test_every_command_is_documented() -> None:
    """docs/commands.md lists every command; the README links to it."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/commands.md" in readme
    text = (REPO_ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    missing = [c for c in cli_commands()
               if not re.search(rf"nl2sql\s+{re.escape(c)}\b|`{re.escape(c)}`", text)]
    assert not missing, f"docs/commands.md does not mention: {', '.join(missing)}"


def test_documentation_links_resolve() -> None:
    """Every relative link in the README and docs/ points at a file (and heading) that exists."""
    def anchors(path: Path) -> set[str]:
        heads = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)
        return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}

    broken = []
    for page in [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            file, _, anchor = target.partition("#")
            linked = (page.parent / file).resolve() if file else page
            if not linked.exists() or (anchor and linked.suffix == ".md"
                                       and anchor not in anchors(linked)):
                broken.append(f"{page.name}: {target}")
    assert not broken, broken
