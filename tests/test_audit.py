"""The audit log: records for ask/sql/shell, the ``audit`` command, crash and concurrency safety."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, IsolatedEnv

from nl2sql.errors import ConfigError, UnsafeSQL
from nl2sql.governance import audit
from nl2sql.governance.audit_record import KEYS
from nl2sql.identity import current_user


def log_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "audit.jsonl"


def records(path: Path) -> list[dict[str, Any]]:
    """The log's records as their JSON lines' objects (what other tools reading it see)."""
    found = audit.read(path)
    items = [r.to_json() for r in found]
    assert found.skipped == 0
    raw = [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    assert items == raw, "a record does not survive reading and writing back unchanged"
    return items


def run_cli(env: IsolatedEnv, log: Path, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return env.run(*args, env={"NL2SQL_AUDIT_LOG": str(log)}, **kwargs)


# --------------------------------------------------------------------------- CLI records


def test_ask_success_record(isolated_env: IsolatedEnv, sample_db_path: Path, tmp_path: Path,
                            gold: Any) -> None:
    log = log_path(tmp_path)
    result = run_cli(isolated_env, log, "ask", "How many customers are in each city?",
                     "--db", str(sample_db_path), "--format", "json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    (record,) = records(log)
    assert record["v"] == 1 and record["command"] == "ask"
    assert record["user"] == current_user() and record["role"] == "analyst"
    assert record["database"] == "shop" and record["source_kind"] == "duckdb"
    assert record["question"] == "How many customers are in each city?"
    assert record["sql"] == answer["sql"] and record["drafter"] == "offline"
    assert record["decision"] == "accepted" and record["reason"] is None
    assert record["rule"] is None and record["error"] is None
    assert record["tables"] == ["customers"] and "customers.city" in record["columns"]
    assert answer["tables_read"] == record["tables"]
    assert answer["columns_read"] == record["columns"]
    (cities,), = gold("SELECT count(DISTINCT city) FROM customers")
    assert record["rows"] == cities == answer["row_count"]
    assert record["masking"] == [] and record["elapsed_ms"] > 0
    assert [a["ok"] for a in record["attempts"]] == [True]
    moment = datetime.fromisoformat(record["time"])
    assert moment.tzinfo is not None and abs(datetime.now(UTC) - moment) < timedelta(minutes=5)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700


def test_sql_success_and_refusal_records(isolated_env: IsolatedEnv, sample_db_path: Path,
                                         tmp_path: Path) -> None:
    log = log_path(tmp_path)
    ok = run_cli(isolated_env, log, "sql", "SELECT status, count(*) FROM orders GROUP BY 1",
                 "--db", str(sample_db_path), "-f", "csv")
    assert ok.returncode == 0, ok.stderr
    refused = run_cli(isolated_env, log, "sql", "SELECT * FROM read_text('/etc/passwd')",
                      "--db", str(sample_db_path))
    assert refused.returncode == 3
    accepted, denied = records(log)
    assert accepted["command"] == "sql" and accepted["question"] is None
    assert accepted["drafter"] == "user" and accepted["decision"] == "accepted"
    assert accepted["tables"] == ["orders"] and accepted["columns"] == ["orders.status"]
    assert accepted["rows"] == len(ok.stdout.strip().splitlines()) - 1
    assert denied["decision"] == "refused" and denied["rule"] == "function"
    assert "read_text" in denied["reason"] and denied["error"]["kind"] == "unsafe_sql"
    assert denied["sql"] == "SELECT * FROM read_text('/etc/passwd')"
    assert denied["rows"] is None and denied["tables"] == [] and denied["columns"] == []
    (attempt,) = denied["attempts"]
    assert attempt["ok"] is False and attempt["stage"] == "guard"
    assert attempt["error"] == {"kind": "unsafe_sql", "rule": "function",
                                "message": denied["reason"]}


def test_unknown_column_and_declined_question(isolated_env: IsolatedEnv, sample_db_path: Path,
                                              tmp_path: Path) -> None:
    log = log_path(tmp_path)
    assert run_cli(isolated_env, log, "sql", "select nope from customers",
                   "--db", str(sample_db_path)).returncode == 3
    assert run_cli(isolated_env, log, "ask", "tell me a joke",
                   "--db", str(sample_db_path)).returncode == 6
    unknown, declined = records(log)
    assert unknown["decision"] == "refused" and unknown["rule"] == "unknown_identifier"
    assert declined["decision"] == "declined" and declined["drafter"] == "offline"
    assert declined["question"] == "tell me a joke" and declined["error"]["kind"] == "declined"


def test_a_typo_is_a_failed_query_not_a_refusal(isolated_env: IsolatedEnv, sample_db_path: Path,
                                                tmp_path: Path) -> None:
    log = log_path(tmp_path)
    assert run_cli(isolated_env, log, "sql", "SELEC * FROM customers",
                   "--db", str(sample_db_path)).returncode == 2
    [typo] = records(log)
    assert typo["decision"] == "failed" and typo["error"]["kind"] == "syntax"


def test_unopenable_log_stops_the_command(isolated_env: IsolatedEnv, sample_db_path: Path,
                                          tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli(isolated_env, blocker / "audit.jsonl", "sql", "select 1",
                     "--db", str(sample_db_path))
    assert result.returncode == 2
    assert "audit log" in result.stderr and result.stdout == ""


def test_shell_records_every_query(isolated_env: IsolatedEnv, sample_db_path: Path,
                                   tmp_path: Path) -> None:
    log = log_path(tmp_path)
    result = run_cli(isolated_env, log, "shell", "--db", str(sample_db_path), "--format", "csv",
                     input="How many orders?\n\\tables\nselect city from customers limit 3\n"
                           "select foo from customers\ntell me a joke\n")
    assert result.returncode == 0, result.stderr
    question, sql, refused, declined = records(log)  # \tables is not a query: no record
    assert {r["command"] for r in (question, sql, refused, declined)} == {"shell"}
    assert question["question"] == "How many orders?" and question["rows"] == 1
    assert question["tables"] == ["orders"] and question["decision"] == "accepted"
    assert sql["question"] is None and sql["rows"] == 3 and sql["drafter"] == "user"
    assert sql["columns"] == ["customers.city"]
    assert refused["decision"] == "refused" and refused["rule"] == "unknown_identifier"
    assert declined["decision"] == "declined"


def test_eval_does_not_audit(isolated_env: IsolatedEnv, sample_db_path: Path,
                             tmp_path: Path) -> None:
    questions = tmp_path / "q.yaml"
    questions.write_text("questions:\n  - id: q1\n    lang: en\n    category: count\n"
                         "    question: How many orders?\n"
                         "    sql: SELECT count(*) FROM orders\n", encoding="utf-8")
    log = log_path(tmp_path)
    result = run_cli(isolated_env, log, "eval", str(questions), "--db", str(sample_db_path),
                     "--drafter", "offline", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert not log.exists() or log.read_text() == ""


# --------------------------------------------------------------------------- nl2sql audit


def synthetic(user: str, when: datetime, question: str,
              decision: str = "accepted") -> audit.AuditRecord:
    return audit.AuditRecord(time=when.isoformat(timespec="milliseconds"), user=user,
                             database="shop", command="ask", question=question, sql="SELECT 1",
                             decision=decision, rows=1, elapsed_ms=3.5)


def test_audit_command_filters_and_formats(isolated_env: IsolatedEnv, tmp_path: Path) -> None:
    log = log_path(tmp_path)
    now = datetime.now(UTC)
    for user, when, question in [("alice", datetime(2025, 6, 1, tzinfo=UTC), "old question"),
                                 ("bob", now - timedelta(hours=3), "bob three hours ago"),
                                 ("alice", now - timedelta(minutes=5), "alice just now"),
                                 ("bob", now - timedelta(minutes=1), "bob just now")]:
        assert audit.append(log, synthetic(user, when, question))

    def listed(*args: str) -> list[str]:
        result = run_cli(isolated_env, log, "audit", *args, "--format", "json")
        assert result.returncode == 0, result.stderr
        return [r["question"] for r in json.loads(result.stdout)]

    assert listed() == ["old question", "bob three hours ago", "alice just now", "bob just now"]
    assert listed("--user", "alice") == ["old question", "alice just now"]
    assert listed("--since", "2026-01-01") == ["bob three hours ago", "alice just now",
                                               "bob just now"]
    assert listed("--since", "1h") == ["alice just now", "bob just now"]
    assert listed("--since", "30m", "--user", "bob") == ["bob just now"]
    assert listed("--since", "7d", "--limit", "1") == ["bob just now"]
    assert listed("--user", "nobody") == []
    shown = json.loads(run_cli(isolated_env, log, "audit", "--format", "json").stdout)
    # the log line's keys, in order (``redacted``: the listing redacts lines written before)
    assert [list(r) for r in shown] == [[*KEYS, "redacted"]] * 4

    csv_out = run_cli(isolated_env, log, "audit", "--format", "csv", "--user", "bob")
    assert csv_out.stdout.splitlines()[0] == ",".join(audit.LIST_COLUMNS)
    assert len(csv_out.stdout.splitlines()) == 3
    table = run_cli(isolated_env, log, "audit", "--since", "1h")
    assert "alice just now" in table.stdout and "old question" not in table.stdout
    markdown = run_cli(isolated_env, log, "audit", "--format", "markdown")
    assert markdown.stdout.startswith("| time | user |")
    bad = run_cli(isolated_env, log, "audit", "--since", "yesterday-ish")
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_audit_command_on_missing_log_and_torn_line(isolated_env: IsolatedEnv,
                                                    tmp_path: Path) -> None:
    log = log_path(tmp_path)
    empty = run_cli(isolated_env, log, "audit", "--format", "json")
    assert empty.returncode == 0 and json.loads(empty.stdout) == []
    audit.append(log, synthetic("alice", datetime.now(UTC), "complete"))
    with log.open("ab") as fh:
        fh.write(b'{"v": 1, "time": "2026-')  # a writer killed mid-line
    result = run_cli(isolated_env, log, "audit", "--format", "json")
    assert [r["question"] for r in json.loads(result.stdout)] == ["complete"]
    assert "skipped 1 unreadable line" in result.stderr


# --------------------------------------------------------------------------- the module


def numbered(n: int, pad: str = "") -> audit.AuditRecord:
    return audit.AuditRecord(time="2026-01-01T00:00:00.000+00:00", user="u", command="sql",
                             sql=f"SELECT {n}{pad}", rows=n)


def test_torn_line_never_swallows_the_next_record(tmp_path: Path) -> None:
    log = log_path(tmp_path)
    audit.append(log, numbered(1))
    with log.open("ab") as fh:
        fh.write(b'{"v": 1, "rows": 2, "sql": "xxxx')
    audit.append(log, numbered(3))
    found = audit.read(log)
    assert [r.rows for r in found] == [1, 3]
    assert found.skipped == 1


def test_append_failure_is_counted_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    before = audit.dropped()
    assert audit.append(blocker / "sub" / "audit.jsonl", numbered(1)) is False
    assert audit.dropped() == before + 1
    with pytest.raises(ConfigError, match="audit log"):
        audit.prepare(blocker / "audit.jsonl")


def test_parse_since() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert audit.parse_since("30m", now) == now - timedelta(minutes=30)
    assert audit.parse_since("1h", now) == now - timedelta(hours=1)
    assert audit.parse_since("7d", now) == now - timedelta(days=7)
    assert audit.parse_since("2026-01-01") == datetime(2026, 1, 1, tzinfo=UTC)
    assert audit.parse_since("2026-01-01T08:00:00+08:00") == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ConfigError):
        audit.parse_since("soon")


def test_unicode_survives(tmp_path: Path) -> None:
    log = log_path(tmp_path)
    audit.append(log, synthetic("张伟", datetime.now(UTC), "每个城市有多少客户？"))
    assert "每个城市有多少客户？" in log.read_text(encoding="utf-8")
    (record,) = audit.read(log)
    assert record.question == "每个城市有多少客户？" and record.user == "张伟"


# A line from an earlier nl2sql (keys missing), a record with a key this version does not
# know, and lines that are JSON but not records: each is read, kept or counted, never fatal.
OLD_LINE = {"v": 1, "time": "2025-06-01T09:00:00.000+00:00", "user": "ann", "command": "ask",
            "question": "q", "decision": "accepted", "rows": 2}
EXTRA_LINE = {**OLD_LINE, "shipper_id": "abc-1"}


@pytest.mark.parametrize(("line", "expected"), [
    (OLD_LINE, {"question": "q", "rows": 2, "attempts": [], "masking": [], "error": None}),
    (EXTRA_LINE, {"shipper_id": "abc-1", "columns": [], "elapsed_ms": None}),
    ({**OLD_LINE, "masking": [{"column": "phone", "source": "customers.phone",
                               "mode": "partial"}]},
     {"masking": [{"column": "phone", "source": "customers.phone", "mode": "partial"}]}),
])
def test_old_and_foreign_lines_are_read(tmp_path: Path, line: dict[str, Any],
                                        expected: dict[str, Any]) -> None:
    log = log_path(tmp_path)
    log.parent.mkdir(parents=True)
    log.write_text(json.dumps(line) + "\n", encoding="utf-8")
    found = audit.read(log)
    (record,) = found
    assert found.skipped == 0
    written = record.to_json()
    assert {k: written[k] for k in expected} == expected
    assert list(written)[:len(KEYS)] == list(KEYS)


@pytest.mark.parametrize("line", ["[1, 2]", '"text"', '{"v": 1, "attempts": "none"}',
                                  '{"v": 1, "rows": "many"}', '{"v": 1, "error": "boom"}'])
def test_lines_that_are_not_records_are_skipped(tmp_path: Path, line: str) -> None:
    log = log_path(tmp_path)
    audit.append(log, numbered(1))
    with log.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    audit.append(log, numbered(2))
    found = audit.read(log)
    assert [r.rows for r in found] == [1, 2] and found.skipped == 1


def test_extract_record_keeps_its_summary_last(tmp_path: Path) -> None:
    summary = {"source": "reviews.review_text", "table": "review_facts", "spec": "facts",
               "model": "qwen", "written": 30, "tokens": {"prompt": 900, "completion": 80}}
    ok = audit.extract_record(summary, user="ann", role="steward", database="shop",
                              source_kind="duckdb", sql="SELECT 1", tables=["reviews"],
                              columns=["reviews.review_text"], elapsed_ms=12.345)
    refused = audit.extract_record(summary, user="ann", role=None, database="shop",
                                   source_kind=None, sql=None, tables=[], columns=[],
                                   elapsed_ms=1, error=UnsafeSQL("no", rule="denied"))
    log = log_path(tmp_path)
    audit.append(log, ok)
    audit.append(log, refused)
    first, second = records(log)
    assert list(first) == [*KEYS, "redacted", "extract"] and first["extract"] == summary
    assert first["drafter"] == "model:qwen" and first["rows"] == 30
    assert first["elapsed_ms"] == 12.35 and first["decision"] == "accepted"
    assert (second["decision"], second["rule"], second["error"]) == (
        "refused", "denied", {"kind": "unsafe_sql", "message": "no"})


def test_written_line_has_the_documented_keys(tmp_path: Path) -> None:
    """The log line is a file format: exactly these keys, in this order, for ask/sql/shell."""
    log = log_path(tmp_path)
    audit.append(log, synthetic("ann", datetime.now(UTC), "q"))
    (line,) = log.read_text(encoding="utf-8").splitlines()
    assert list(json.loads(line)) == [
        "v", "time", "user", "role", "database", "source_kind", "command", "question", "sql",
        "drafter", "attempts", "decision", "reason", "rule", "tables", "columns", "rows",
        "masking", "elapsed_ms", "error", "redacted"]


# --------------------------------------------------------------------------- crash and concurrency

WRITER = """
import sys
from pathlib import Path
from nl2sql.governance import audit
path, tag, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
pad = "审计" * 500 + "x" * 3000
i = 0
while count < 0 or i < count:
    audit.append(path, audit.AuditRecord(time="", user=tag, command="sql", sql=pad, rows=i))
    i += 1
"""


def writer(path: Path, tag: str, count: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag, str(count)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_killed_writer_leaves_every_earlier_record_intact(tmp_path: Path) -> None:
    log = log_path(tmp_path)
    for run in range(3):
        before = log.stat().st_size if log.exists() else 0
        proc = writer(log, f"run{run}", -1)
        deadline = time.monotonic() + 20
        # until this writer has written (not only an earlier run): it starts by importing
        while not (log.exists() and log.stat().st_size > before + 1 and proc.poll() is None) \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
        lines = log.read_bytes().split(b"\n")
        tail = lines.pop()  # after the last newline: empty, or a torn record
        torn = 0
        for line in lines:
            try:
                json.loads(line)
            except ValueError:
                torn += 1  # only a fragment an earlier kill left, alone on its line
        assert torn <= run, "a line other than a killed writer's last one does not parse"
        if tail:
            with pytest.raises(ValueError):
                json.loads(tail)
        found = audit.read(log)
        items = list(found)
        assert found.skipped <= run + 1  # at most one torn line per kill
        mine = [r.rows for r in items if r.user == f"run{run}"]
        assert mine and mine == list(range(len(mine))), "a record was lost or reordered"
    by_run = {r.user for r in audit.read(log)}
    assert by_run == {"run0", "run1", "run2"}


@pytest.mark.slow
def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    log = log_path(tmp_path)
    procs = [writer(log, f"w{n}", 300) for n in range(4)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    raw = log.read_bytes()
    assert raw.endswith(b"\n")
    lines = raw.split(b"\n")[:-1]
    assert len(lines) == 1200
    parsed = [json.loads(line) for line in lines]  # every line is one whole record
    seen = {(r["user"], r["rows"]) for r in parsed}
    assert seen == {(f"w{n}", i) for n in range(4) for i in range(300)}
    for n in range(4):
        order = [r["rows"] for r in parsed if r["user"] == f"w{n}"]
        assert order == list(range(300))
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
