"""``nl2sql extract`` end to end through the real command: a run and a question over the
extracted table, kill -9 and resume, Ctrl-C, offline behaviour, ``--sample``, exit codes
and the progress bar. The model is the scripted chat server answering with
``tests/fixtures/extract_model.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest
from chat_server import ChatServer
from fixtures import extract_model

if TYPE_CHECKING:
    from conftest import IsolatedEnv

# whole extractions through the command, some killed or in a terminal: left out of the
# inner loop (-m "not slow")
pytestmark = pytest.mark.slow

NO_TRACEBACK = "Traceback (most recent call last)"
REVIEWS = ("extract", "--from", "reviews.review_text", "--key", "review_id",
           "--spec", "review_insights")


def model_env(server: ChatServer, ws: Path, **extra: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": server.base_url,
            "NL2SQL_WORKSPACE": str(ws), "NL2SQL_MODEL_RETRIES": "2",
            "NL2SQL_MODEL_TIMEOUT": "10", **extra}


def read(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [tuple(r) for r in con.execute(sql).fetchall()]
    finally:
        con.close()


def both(db: Path, ws: Path, sql: str) -> list[tuple[Any, ...]]:
    """Gold: trusted SQL over the source and the workspace, attached read-only."""
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH '{db}' AS shop (READ_ONLY)")
        con.execute(f"ATTACH '{ws}' AS ws (READ_ONLY)")
        con.execute("USE shop")
        con.execute("SET search_path = 'shop.main,ws.main'")
        return [tuple(r) for r in con.execute(sql).fetchall()]
    finally:
        con.close()


def chat_requests(server: ChatServer) -> int:
    return sum(1 for r in server.requests if r["path"].endswith("/chat/completions"))


@pytest.fixture
def model(chat_server: ChatServer) -> ChatServer:
    chat_server.responder = extract_model.answer
    return chat_server


def test_extract_then_ask_about_the_new_table(isolated_env: IsolatedEnv, model: ChatServer,
                                              sample_db_path: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    env = model_env(model, ws)
    result = isolated_env.run(*REVIEWS, "--db", str(sample_db_path), "--limit", "120",
                              "--concurrency", "8", "-f", "json", env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert summary["status"]["ok"] == summary["written"] == 120
    assert summary["table"] == "review_insights" and summary["workspace"] == str(ws)

    sql = ("SELECT p.name AS product, count(*) AS delivery_complaints FROM review_insights ri "
           "JOIN reviews r ON r.review_id = ri.review_id JOIN products p ON p.product_id = "
           "r.product_id WHERE ri.delivery = 'negative' GROUP BY p.name "
           "ORDER BY delivery_complaints DESC, product LIMIT 1")
    model.reply(f"```sql\n{sql}\n```")
    asked = isolated_env.run("ask", "Which product has the most delivery complaints?", "--db",
                             str(sample_db_path), "--drafter", "model", "-f", "json", env=env)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    gold = both(sample_db_path, ws, sql)
    assert gold and [tuple(r) for r in answer["rows"]] == gold
    prompt_text = "\n".join(m["content"] for m in model.messages(-1))
    assert "review_insights" in prompt_text and "How the review judges delivery" in prompt_text

    # The offline drafter reads the spec's labels and aliases too.
    offline = isolated_env.run("ask", "How many reviews have delivery complaints?", "--db",
                               str(sample_db_path), "--drafter", "offline", "-f", "json",
                               env=env)
    assert offline.returncode == 0, offline.stderr
    count = both(sample_db_path, ws, "SELECT count(*) FROM review_insights "
                                     "WHERE delivery = 'negative'")
    assert json.loads(offline.stdout)["rows"] == [list(count[0])] and count[0][0] > 0
    top = isolated_env.run("ask", "Which product has the most delivery complaints?", "--db",
                           str(sample_db_path), "--drafter", "offline", "-f", "json", env=env)
    assert top.returncode == 0, top.stderr
    best = json.loads(top.stdout)
    assert len(best["rows"]) == 1 and best["rows"][0][-1] == gold[0][1]  # the top count

    # The data dictionary describes the extracted table too.
    described = isolated_env.run("catalog", "--db", str(sample_db_path), "-f", "json", env=env)
    assert described.returncode == 0, described.stderr
    tables = {t["name"]: t for t in json.loads(described.stdout)["tables"]}
    assert "review_insights" in tables and "delivery" in json.dumps(tables["review_insights"])


def _run_until(proc: subprocess.Popen[str], server: ChatServer, requests: int,
               timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while chat_requests(server) < requests:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the extraction did not get going"
        time.sleep(0.01)


def test_kill_and_resume_loses_at_most_the_rows_in_flight(
        isolated_env: IsolatedEnv, model: ChatServer, sample_db_path: Path,
        tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    env = model_env(model, ws)
    model.default_delay = 0.05
    args = (*REVIEWS, "--db", str(sample_db_path), "--limit", "200", "--concurrency", "4")
    proc = isolated_env.popen(*args, env=env)
    try:
        _run_until(proc, model, 60)
        proc.kill()  # SIGKILL: no cleanup at all
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    sent = chat_requests(model)
    (saved_texts, saved_rows), = read(ws, "SELECT count(DISTINCT text_hash), count(*) "
                                          "FROM review_insights")
    assert sent - 4 <= saved_texts <= sent  # at most the 4 requests in flight were lost
    source = dict(read(sample_db_path, "SELECT review_id, review_text FROM reviews "
                                       "ORDER BY review_id LIMIT 200"))
    resumed = isolated_env.run(*args, "-f", "json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)["summary"]
    assert summary["already_done"] == saved_rows
    assert chat_requests(model) - sent == len(set(source.values())) - saved_texts
    rows = read(ws, "SELECT review_id, sentiment, quality, price, delivery, service, complaint, "
                    "complaint_summary, status FROM review_insights ORDER BY review_id")
    assert [r[0] for r in rows] == sorted(source)
    names = ["sentiment", "quality", "price", "delivery", "service", "complaint",
             "complaint_summary"]
    for row in rows:
        assert row[-1] == "ok"
        assert dict(zip(names, row[1:-1], strict=True)) == extract_model.review_answer(
            source[row[0]])


def test_ctrl_c_keeps_the_finished_rows(isolated_env: IsolatedEnv, model: ChatServer,
                                        sample_db_path: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    model.default_delay = 0.05
    code, out, err = isolated_env.interrupted(
        *REVIEWS, "--db", str(sample_db_path), "--limit", "300", "--concurrency", "2",
        env=model_env(model, ws), when=lambda proc: _run_until(proc, model, 20))
    assert code == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error (interrupted): stopped: "), err
    saved = read(ws, "SELECT count(*) FROM review_insights")[0][0]
    assert f"stopped: {saved} of 300 rows saved in review_insights" in lines[0]
    assert 10 <= saved < 300 and out == ""


def test_offline_extract_says_what_needs_a_key(isolated_env: IsolatedEnv, sample_db_path: Path,
                                               tmp_path: Path) -> None:
    env = {"NL2SQL_WORKSPACE": str(tmp_path / "ws.duckdb")}
    result = isolated_env.run("extract", "--from", "support_tickets.transcript", "--spec",
                              "pii_mentions", "--into", "ticket_pii", "--db",
                              str(sample_db_path), env=env)
    assert result.returncode == 0, result.stderr
    assert "person_names need the model: set OPENAI_API_KEY" in result.stdout
    assert "ticket_pii: 400 rows written (partial 400)" in result.stdout
    refused = isolated_env.run(*REVIEWS, "--db", str(sample_db_path), env=env)
    assert refused.returncode == 2 and refused.stdout == ""
    line, = refused.stderr.strip().splitlines()
    assert line.startswith("error (config): every field of spec review_insights needs the "
                           "model") and "OPENAI_API_KEY" in line


def test_sample_shows_text_beside_fields_and_writes_no_table(
        isolated_env: IsolatedEnv, model: ChatServer, sample_db_path: Path,
        tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    env = model_env(model, ws, NL2SQL_PRICE_INPUT="0.15", NL2SQL_PRICE_OUTPUT="0.60")
    result = isolated_env.run(*REVIEWS, "--db", str(sample_db_path), "--sample", "4", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "text (personal data masked)" in out and "delivery" in out and "sentiment" in out
    assert "projected for all 1,000 selected rows" in out and "~$" in out
    assert "nothing was written to the table" in out
    keys = [1, 251, 501, 751]
    source = dict(read(sample_db_path, "SELECT review_id, review_text FROM reviews"))
    for key in keys:
        words = " ".join(source[key].split())[:30]
        assert words[:20] in " ".join(out.split()), words
    as_json = isolated_env.run(*REVIEWS, "--db", str(sample_db_path), "--sample", "4", "-f",
                               "json", env=env)
    data = json.loads(as_json.stdout)
    assert [r["key"] for r in data["sample"]] == keys
    assert all(r["values"] == extract_model.review_answer(source[r["key"]])
               for r in data["sample"])
    assert data["summary"]["requests"] == 0  # the second sample came from the cache
    assert read(ws, "SELECT count(*) FROM duckdb_tables() WHERE table_name = "
                    "'review_insights'") == [(0,)]


def test_json_summary_is_stable(isolated_env: IsolatedEnv, model: ChatServer,
                                sample_db_path: Path, tmp_path: Path) -> None:
    result = isolated_env.run(*REVIEWS, "--db", str(sample_db_path), "--limit", "3", "-f",
                              "json", env=model_env(model, tmp_path / "ws.duckdb"))
    summary = json.loads(result.stdout)["summary"]
    assert set(summary) == {
        "table", "workspace", "source", "key", "spec", "spec_hash", "prompt_hash", "model",
        "selected", "already_done", "written", "status", "from_cache", "asked_model",
        "requests", "retries", "rate_limited", "structured_output", "tokens", "cost_usd",
        "elapsed_s", "rows_per_s", "stopped", "notes"}
    assert summary["tokens"]["prompt"] > 0 and summary["cost_usd"] is None


@pytest.mark.parametrize(("args", "code", "kind"), [
    (("--where", "read_text('/etc/passwd') IS NOT NULL"), 3, "unsafe_sql"),
    (("--where", "1=1; DROP TABLE reviews"), 3, "unsafe_sql"),
    (("--where", "no_such_column = 1"), 3, "unknown_identifier"),
    (("--where", "rating > ("), 2, "syntax"),
    (("--into", "reviews"), 2, "config"),
    (("--spec", "no_such_spec"), 2, "config"),
    (("--concurrency", "0"), 2, None),
])
def test_refusals_are_one_line_with_their_exit_code(
        isolated_env: IsolatedEnv, model: ChatServer, sample_db_path: Path, tmp_path: Path,
        args: tuple[str, ...], code: int, kind: str | None) -> None:
    result = isolated_env.run(*REVIEWS, "--db", str(sample_db_path), *args,
                              env=model_env(model, tmp_path / "ws.duckdb"))
    assert result.returncode == code, result.stderr
    if kind is not None:
        line, = result.stderr.strip().splitlines()
        assert line.startswith(f"error ({kind})"), line
    assert chat_requests(model) == 0


def test_failed_rows_exit_5_after_the_summary(isolated_env: IsolatedEnv, model: ChatServer,
                                              sample_db_path: Path, tmp_path: Path) -> None:
    model.fail(503, times=2, message="overloaded")
    result = isolated_env.run(*REVIEWS, "--db", str(sample_db_path), "--limit", "3",
                              "--concurrency", "1",
                              env=model_env(model, tmp_path / "ws.duckdb",
                                            NL2SQL_MODEL_RETRIES="1"))
    assert result.returncode == 5
    assert "review_insights: 3 rows written (ok 2, failed 1)" in result.stdout
    line, = result.stderr.strip().splitlines()
    assert line.startswith("error (model): 1 rows failed") and "overloaded" in line
    model.fail(503, times=2, message="overloaded")
    as_json = isolated_env.run(*REVIEWS, "--db", str(sample_db_path), "--limit", "4",
                               "--concurrency", "1", "-f", "json",
                               env=model_env(model, tmp_path / "ws.duckdb",
                                             NL2SQL_MODEL_RETRIES="1"))
    assert as_json.returncode == 5
    error = json.loads(as_json.stdout)["error"]  # one JSON document on stdout
    assert error["kind"] == "model" and "overloaded" in error["message"]
    assert error["summary"]["status"]["failed"] == 1 and error["summary"]["already_done"] == 2


def test_progress_bar_in_a_terminal(model: ChatServer, sample_db_path: Path,
                                    tmp_path: Path, shared_cache_dir: Path) -> None:
    import os

    import pexpect

    model.default_delay = 0.05
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "NL2SQL_"))}
    env.update(model_env(model, tmp_path / "ws.duckdb"), NL2SQL_CACHE_DIR=str(shared_cache_dir),
               TERM="xterm")
    child = pexpect.spawn(sys.executable, ["-m", "nl2sql.interfaces.cli", *REVIEWS, "--db",
                                           str(sample_db_path), "--limit", "60",
                                           "--concurrency", "2"],
                          env=env, cwd=str(tmp_path), encoding="utf-8", dimensions=(30, 160),
                          timeout=60)
    try:
        child.expect(r"rows/s · [\d,]+ tokens")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert "review_insights: 60 rows written" in child.before


def test_personal_values_are_replaced_before_the_model_sees_them(
        isolated_env: IsolatedEnv, model: ChatServer, sample_db_path: Path,
        tmp_path: Path) -> None:
    """By default every phone, e-mail, ID and address the scanner's detectors find in a
    transcript reaches the model as [phone], [email]...; --send-personal-data sends them."""
    from nl2sql.governance.pii import find_all

    texts = read(sample_db_path, "SELECT transcript FROM support_tickets ORDER BY ticket_id "
                                 "LIMIT 400")
    values = {m.text for (text,) in texts for m in find_all(text) if len(m.text) >= 6}
    assert values, "the sample transcripts carry personal values"
    ticket = ("extract", "--from", "support_tickets.transcript", "--spec", "ticket_qa",
              "--db", str(sample_db_path), "--limit", "400", "-f", "json")
    result = isolated_env.run(*ticket, env=model_env(model, tmp_path / "ws.duckdb"))
    assert result.returncode == 0, result.stderr
    sent = model.all_text()
    assert not [v for v in values if v in sent]
    assert "[phone]" in sent or "[email]" in sent

    model.requests.clear()
    # the opt-out really sends them, for a role that reads them: the analyst's text is
    # redacted in the secure view before extraction reads it (redact_text)
    raw = isolated_env.run(*ticket, "--send-personal-data", "--into", "ticket_qa_raw",
                           "--role", "steward", env=model_env(model, tmp_path / "ws.duckdb"))
    assert raw.returncode == 0, raw.stderr
    assert [v for v in values if v in model.all_text()]


def test_extract_runs_are_audited(isolated_env: IsolatedEnv, model: ChatServer,
                                  sample_db_path: Path, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    env = model_env(model, tmp_path / "ws.duckdb", NL2SQL_AUDIT_LOG=str(log))
    result = isolated_env.run(*REVIEWS, "--db", str(sample_db_path), "--limit", "30",
                              "--where", "rating <= 2", "--role", "steward", "-f", "json",
                              env=env)
    assert result.returncode == 0, result.stderr
    refused = isolated_env.run(*REVIEWS, "--db", str(sample_db_path), "--where",
                               "customer_id IN (SELECT customer_id FROM customers "
                               "WHERE birth_date > DATE '2000-01-01')", env=env)
    assert refused.returncode == 3 and "birth_date" in refused.stderr  # analyst by default
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    record, refusal = [r for r in records if r["command"] == "extract"]
    assert (refusal["decision"], refusal["rule"]) == ("refused", "denied")
    assert "birth_date" in refusal["question"] and "birth_date" in refusal["reason"]
    assert record["role"] == "steward" and record["decision"] == "accepted"
    assert record["tables"] == ["reviews"]
    assert {"reviews.review_text", "reviews.review_id", "reviews.rating"} <= set(record["columns"])
    assert "rating <= 2" in record["sql"] and record["rows"] == 30
    assert record["drafter"].startswith("model:") and record["extract"]["tokens"]["prompt"] > 0


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_sample_never_shows_personal_values_in_the_text(
        fmt: str, isolated_env: IsolatedEnv, model: ChatServer, sample_db_path: Path,
        tmp_path: Path) -> None:
    """The attack: --sample over reviews that quote phones and e-mails. Both formats show
    the text with them masked (JSON printed them raw)."""
    from nl2sql.governance.pii_detect import find_all

    texts = dict(read(sample_db_path, "SELECT review_id, review_text FROM reviews"))
    leaky = {key: [m.text for m in find_all(text or "")] for key, text in texts.items()}
    leaky = {key: values for key, values in leaky.items() if values}
    chosen = sorted(leaky)[:4]
    assert chosen, "the sample reviews quote personal data"
    where = f"review_id IN ({', '.join(map(str, chosen))})"
    result = isolated_env.run(*REVIEWS, "--db", str(sample_db_path), "--sample", "4",
                              "--where", where, "-f", fmt,
                              env=model_env(model, tmp_path / "ws.duckdb"))
    assert result.returncode == 0, result.stderr
    shown = result.stdout + result.stderr
    if fmt == "json":
        assert sorted(r["key"] for r in json.loads(result.stdout)["sample"]) == chosen
    for key in chosen:
        for value in leaky[key]:
            assert value not in shown, (key, value)
