"""``nl2sql shell`` driven for real: a pseudo-terminal (pexpect) talks to prompt_toolkit.

Most steps share one spawned shell (``shell`` fixture; respawned when a test broke it).
The terminal is ``TERM=xterm`` with cursor-position requests off: prompt_toolkit then
switches the tty to raw mode *before* it draws the prompt, so keys such as Tab, Ctrl-D and
Ctrl-C sent after the prompt is seen are never eaten by the line discipline (with
``TERM=dumb`` the prompt is printed first and an early Ctrl-D can be lost).

Reading the screen: every prompt starts by enabling bracketed paste (``ESC[?2004h``) and
every accepted line ends by disabling it (``ESC[?2004l``); what lies between the two is the
command's output. Re-draws while typing never enable bracketed paste again.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pexpect = pytest.importorskip("pexpect")

from conftest import NO_TRACEBACK, clean_environ, cli_command  # noqa: E402

# end to end in a pseudo-terminal: left out of the inner loop (-m "not slow")
pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal"),
              pytest.mark.slow]

ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
LINE_ACCEPTED = "\x1b[?2004l"
PROMPT = re.compile(r"\x1b\[\?2004h(?:\x1b\[[0-?]*[ -/]*[@-~])*shop>")
SLOW_SQL = "select count(*) from order_items a, order_items b, order_items c;"


def screen_text(raw: str) -> str:
    """Terminal output as plain text: no escape sequences, ``\\n`` line ends."""
    text = ANSI.sub("", raw)
    return re.sub(r"\r+\n", "\n", text).replace("\r", "")


def content_lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def table_rows(text: str) -> tuple[list[str], list[list[str]]]:
    """The header and body of the (last) rich table in ``text``."""
    header: list[str] = []
    rows: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("┃"):
            header, rows = [c.strip() for c in line.strip("┃").split("┃")], []
        elif line.startswith("│"):
            rows.append([c.strip() for c in line.strip("│").split("│")])
    return header, rows


def as_strings(rows: list[tuple[Any, ...]]) -> list[list[str]]:
    return [[str(v) for v in row] for row in rows]


class Shell:
    """One ``nl2sql shell`` process in a 40x120 pseudo-terminal."""

    def __init__(self, db: Path, home: Path, cache_dir: Path, env: dict[str, str] | None = None,
                 timeout: float = 20) -> None:
        self.home = home
        (home / "cwd").mkdir(parents=True, exist_ok=True)
        full_env = clean_environ(cache_dir)
        for name in ("COLUMNS", "LINES"):  # rich must measure the pty, not a pipe default
            full_env.pop(name, None)
        full_env.update({
            "TERM": "xterm",
            "PROMPT_TOOLKIT_NO_CPR": "1",  # pexpect does not answer cursor-position requests
            "PAGER": "cat",
            "XDG_DATA_HOME": str(home / "xdg"),
            **(env or {}),
        })
        self.transcript = io.StringIO()
        self.broken = False
        started = time.monotonic()
        self.child: Any = pexpect.spawn(
            sys.executable, ["-m", "nl2sql.interfaces.cli", "shell", "--db", str(db)], env=full_env,
            cwd=str(home / "cwd"), encoding="utf-8", dimensions=(40, 120), timeout=timeout)
        self.child.logfile_read = self.transcript
        self.expect(PROMPT)
        self.startup_s = time.monotonic() - started

    @property
    def history_path(self) -> Path:
        return self.home / "xdg" / "nl2sql" / "history-analyst"  # the default role's

    def tail(self, chars: int = 3000) -> str:
        return screen_text(self.transcript.getvalue())[-chars:]

    def expect(self, pattern: Any, timeout: float | None = None) -> int:
        try:
            index: int = self.child.expect(pattern, timeout=timeout if timeout else -1)
            return index
        except (pexpect.TIMEOUT, pexpect.EOF):
            self.broken = True
            raise AssertionError(f"waited for {pattern!r}; the screen ends with:\n{self.tail()}") \
                from None

    def output(self) -> str:
        """What the last command printed (after its accepted input line)."""
        before: str = self.child.before
        return screen_text(before.split(LINE_ACCEPTED, 1)[-1])

    def run(self, line: str, timeout: float | None = None) -> str:
        """Type ``line``, press Enter, wait for the next prompt; return the output."""
        self.child.send(line + "\r")
        self.expect(PROMPT, timeout)
        return self.output()

    def wait_exit(self, timeout: float = 10) -> int:
        self.expect(pexpect.EOF, timeout)
        self.child.close()
        status: int = self.child.exitstatus
        return status

    def close(self) -> None:
        if self.child.isalive() and not self.broken:
            self.child.send("\\quit\r")  # let it close its query worker itself
            self.child.expect([pexpect.EOF, pexpect.TIMEOUT], timeout=5)
        if self.child.isalive():
            self.child.terminate(force=True)
        self.child.close()


SHARED_ENV = {"NL2SQL_QUERY_TIMEOUT": "60"}  # the slow-query test interrupts, not the timer


@pytest.fixture(scope="module")
def _spawned(sample_db_path: Path, shared_cache_dir: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Shell]]:
    """Every shell spawned for this module; the last one is the current one."""
    home = tmp_path_factory.mktemp("shell-home")
    shells = [Shell(sample_db_path, home, shared_cache_dir, env=SHARED_ENV)]
    try:
        yield shells
    finally:
        for sh in shells:
            sh.close()


@pytest.fixture
def shell(_spawned: list[Shell], sample_db_path: Path, shared_cache_dir: Path) -> Shell:
    """The module's shared shell at a fresh prompt (respawned if a test left it broken)."""
    current = _spawned[-1]
    if current.broken or not current.child.isalive():
        current.close()
        current = Shell(sample_db_path, current.home, shared_cache_dir, env=SHARED_ENV)
        _spawned.append(current)
    if current.run("\\format table").strip() != "format: table":
        current.broken = True
        pytest.fail(f"the shared shell is not at a prompt:\n{current.tail()}")
    return current


# --- 1, 2: questions and SQL --------------------------------------------------------------


def test_question_prints_table_and_sql(shell: Shell, gold: Any) -> None:
    out = shell.run("How many customers are in each city?")
    assert "SELECT" in out and "FROM customers" in out, out
    assert "Shanghai" in out
    header, rows = table_rows(out)
    assert header[0] == "city"
    expected = gold("SELECT city, count(*) FROM customers GROUP BY 1")
    assert {r[0]: int(r[1]) for r in rows} == dict(expected)
    assert NO_TRACEBACK not in out


def test_typed_sql_runs_and_shows_sql(shell: Shell, gold: Any) -> None:
    out = shell.run("select status, count(*) from orders group by 1;")
    assert re.search(r"SELECT status, COUNT\(\*\) FROM orders GROUP BY 1", out), out
    header, rows = table_rows(out)
    assert header == ["status", "count_star()"]
    expected = gold("SELECT status, count(*) FROM orders GROUP BY 1")
    assert sorted((s, int(n)) for s, n in rows) == sorted(expected)
    assert "drafter: user" in out


def test_sql_spans_lines_until_semicolon(shell: Shell, gold: Any) -> None:
    shell.child.send("select count(*) as n\r")  # no ";": Enter continues the statement
    shell.expect(r"\.\.\.>")
    out = shell.run("from customers;")
    assert table_rows(out) == (["n"], [[str(gold("SELECT count(*) FROM customers")[0][0])]])


def test_tall_result_goes_through_pager(shell: Shell) -> None:
    out = shell.run("select range as i from range(50);")  # more rows than the screen
    _, rows = table_rows(out)
    assert [r[0] for r in rows] == [str(i) for i in range(50)]


# --- 3: follow-ups --------------------------------------------------------------------------


def test_follow_up_narrows_previous_question(shell: Shell, gold: Any) -> None:
    before = table_rows(shell.run("How many orders per city?"))[1]
    out = shell.run("now only for 2024")
    assert "follow-up read as: How many orders per city for 2024" in out, out
    _, rows = table_rows(out)
    expected = dict(gold(
        "SELECT c.city, count(DISTINCT o.order_id) FROM orders o JOIN customers c "
        "USING (customer_id) WHERE o.order_date >= DATE '2024-01-01' "
        "AND o.order_date < DATE '2025-01-01' GROUP BY 1"))
    assert {r[0]: int(r[1]) for r in rows} == expected
    assert sum(int(r[1]) for r in rows) < sum(int(r[1]) for r in before)


def test_chinese_follow_up_narrows_to_shanghai(shell: Shell, gold: Any) -> None:
    first = shell.run("每个城市有多少客户？")
    assert len(table_rows(first)[1]) > 1
    out = shell.run("只看上海的")
    assert "follow-up read as: 每个城市有多少客户 上海的" in out, out
    _, rows = table_rows(out)
    (shanghai,), = gold("SELECT count(*) FROM customers WHERE city = 'Shanghai'")
    assert rows == [["Shanghai", str(shanghai)]]


# --- 4: completion --------------------------------------------------------------------------


def test_tab_completes_column_name(shell: Shell, gold: Any) -> None:
    shell.child.send("select vip_l")
    shell.child.send("\t")
    # The completion is drawn on the input line (prompt_toolkit may redraw the whole line
    # or only append "evel"; either way the screen then reads "select vip_level").
    shell.expect("evel")
    assert shell.tail(200).endswith("select vip_level"), shell.tail(200)
    out = shell.run(" from customers group by 1 order by 1;")
    assert "SELECT vip_level FROM customers" in out, out
    _, rows = table_rows(out)
    assert [r[0] for r in rows] == [v for (v,) in gold(
        "SELECT DISTINCT vip_level FROM customers ORDER BY 1")]


def test_tab_completes_meta_command(shell: Shell) -> None:
    shell.child.send("\\tab\t")
    shell.expect("les")
    assert shell.tail(200).endswith("\\tables"), shell.tail(200)
    out = shell.run("")
    assert re.search(r"customers\s+│\s+[\d,]+", out), out


# --- 5: export ------------------------------------------------------------------------------


def test_export_round_trip(shell: Shell, tmp_path: Path) -> None:
    import duckdb

    header, rows = table_rows(shell.run("How many customers are in each city?"))
    assert len(rows) > 1

    out = shell.run(f"\\export {tmp_path / 'cities.csv'}")
    assert f"wrote {len(rows)} rows" in out, out
    with (tmp_path / "cities.csv").open(newline="", encoding="utf-8") as fh:
        written = list(csv.reader(fh))
    assert written[0] == header
    assert written[1:] == rows

    out = shell.run(f"\\export {tmp_path / 'cities.parquet'}")
    assert f"wrote {len(rows)} rows" in out, out
    con = duckdb.connect()
    try:
        back = con.execute("SELECT * FROM read_parquet(?)", [str(tmp_path / "cities.parquet")])
        assert [d[0] for d in back.description] == header
        assert as_strings(back.fetchall()) == rows
    finally:
        con.close()

    shell.run(f"\\export {tmp_path / 'cities.json'}")
    data = json.loads((tmp_path / "cities.json").read_text(encoding="utf-8"))
    assert data["columns"] == header
    assert as_strings([tuple(r) for r in data["rows"]]) == rows

    out = shell.run(f"\\export {tmp_path / 'cities.txt'}")
    assert content_lines(out) == ["error (config): \\export writes .csv, .json, .md or .parquet "
                                  "files"]
    assert not (tmp_path / "cities.txt").exists()


# --- 6, 10: one line per failure, and the shell goes on ---------------------------------------


def test_guard_rejection_prints_one_line_and_continues(shell: Shell) -> None:
    out = shell.run("select * from read_text('/etc/passwd');")
    lines = content_lines(out)
    assert len(lines) == 1 and lines[0].startswith("error (unsafe_sql)"), out
    assert "root:" not in out
    assert table_rows(shell.run("select 42 as answer;")) == (["answer"], [["42"]])


def test_unknown_command_and_declined_question_print_one_line(shell: Shell) -> None:
    lines = content_lines(shell.run("\\nope"))
    assert lines == ["error (config): unknown command \\nope; \\help lists them"]
    lines = content_lines(shell.run("tell me a joke"))
    assert len(lines) == 1 and lines[0].startswith("error (declined): "), lines
    assert table_rows(shell.run("select 7 as still_here;")) == (["still_here"], [["7"]])


# --- 7: Ctrl-C --------------------------------------------------------------------------------


def test_ctrl_c_stops_a_slow_query(shell: Shell) -> None:
    shell.child.send(SLOW_SQL + "\r")
    shell.expect(re.escape(LINE_ACCEPTED))
    time.sleep(1.0)  # let the query get going in the worker
    shell.child.sendintr()
    started = time.monotonic()
    shell.expect(PROMPT, timeout=10)
    assert time.monotonic() - started < 3
    out = shell.output()
    assert re.search(r"interrupted|cancelled", out), out
    assert NO_TRACEBACK not in out
    assert table_rows(shell.run("select 1 as after;")) == (["after"], [["1"]])


def test_ctrl_c_cancels_a_slow_model_request(sample_db_path: Path, shared_cache_dir: Path,
                                             tmp_path: Path, chat_server: Any, gold: Any) -> None:
    sh = Shell(sample_db_path, tmp_path, shared_cache_dir, env={
        "OPENAI_API_KEY": "test", "OPENAI_BASE_URL": chat_server.base_url,
        "NL2SQL_MODEL_RETRIES": "0", "NL2SQL_MODEL_TIMEOUT": "30"})
    try:
        chat_server.hang(10)
        sh.child.send("How many customers are in each city?\r")
        deadline = time.monotonic() + 10
        while not chat_server.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert chat_server.requests, f"the model was never asked:\n{sh.tail()}"
        time.sleep(0.5)
        sh.child.sendintr()
        started = time.monotonic()
        sh.expect(PROMPT, timeout=10)
        assert time.monotonic() - started < 3
        out = sh.output()
        assert "cancelled" in out, out
        assert NO_TRACEBACK not in out

        chat_server.reply("SELECT count(*) AS n FROM customers")
        out = sh.run("How many customers are there?")
        assert table_rows(out) == (["n"], [[str(gold("SELECT count(*) FROM customers")[0][0])]])
        sh.child.send("\\quit\r")
        assert sh.wait_exit() == 0
    finally:
        sh.close()


# --- 8: piped stdin ---------------------------------------------------------------------------


def test_piped_stdin_runs_each_line(isolated_env: Any, sample_db_path: Path, gold: Any) -> None:
    result = isolated_env.run(
        "shell", "--db", str(sample_db_path),
        input="How many orders?\nselect 1 as x\n\\format csv\nselect 2 as y\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    (orders,), = gold("SELECT count(*) FROM orders")
    assert re.search(rf"│\s+{orders}\s+│", out), out
    assert re.search(r"┃\s+x\s+┃", out) and re.search(r"│\s+1\s+│", out), out
    assert out.rstrip().endswith("format: csv\ny\n2"), out
    assert "error" not in out and NO_TRACEBACK not in result.stderr


def test_piped_errors_are_single_lines(isolated_env: Any, sample_db_path: Path) -> None:
    env = {k: v for k, v in isolated_env.env.items() if k != "COLUMNS"}
    result = subprocess.run(
        [*cli_command(), "shell", "--db", str(sample_db_path)], cwd=isolated_env.cwd, env=env,
        input="tell me a joke\n\\nope\nselect 3 as z\n", capture_output=True, text=True,
        encoding="utf-8", timeout=60, check=False)
    assert result.returncode == 0 and NO_TRACEBACK not in result.stderr + result.stdout
    # No COLUMNS: rich assumes 80 columns in a pipe, and must still not cut error lines.
    lines = result.stdout.splitlines()
    assert lines[0].startswith("error (declined): ") and len(lines[0]) > 80, lines[:3]
    assert lines[1].startswith("error (config): unknown command"), lines[:3]
    assert re.search(r"┃\s+z\s+┃", result.stdout), result.stdout


# --- 9: help, leaving, history ----------------------------------------------------------------


def test_help_lists_every_command_and_quit_exits(sample_db_path: Path, shared_cache_dir: Path,
                                                  tmp_path: Path) -> None:
    from nl2sql.interfaces.shell import COMMANDS

    sh = Shell(sample_db_path, tmp_path, shared_cache_dir)
    try:
        out = sh.run("\\help")
        listed = {m.group(1) for m in re.finditer(r"^\s*\\(\w+)", out, re.MULTILINE)}
        assert listed == set(COMMANDS), out
        for cmd in COMMANDS.values():
            assert cmd.help.split()[0] in out
        sh.child.send("\\quit\r")
        assert sh.wait_exit() == 0
    finally:
        sh.close()
    history = sh.history_path.read_text(encoding="utf-8")
    assert "+\\help\n" in history and "+\\quit\n" in history


def test_ctrl_c_clears_the_line_and_ctrl_d_exits(sample_db_path: Path, shared_cache_dir: Path,
                                                 tmp_path: Path) -> None:
    sh = Shell(sample_db_path, tmp_path, shared_cache_dir)
    try:
        sh.child.send("select half a thought")
        sh.expect("thought")
        sh.child.sendintr()  # at the prompt: drop the line, prompt again
        sh.expect(PROMPT)
        assert table_rows(sh.run("select 5 as five;")) == (["five"], [["5"]])
        sh.child.sendeof()
        assert sh.wait_exit() == 0
    finally:
        sh.close()
    history = sh.history_path.read_text(encoding="utf-8")
    assert "+select 5 as five;\n" in history
    assert "half a thought" not in history
