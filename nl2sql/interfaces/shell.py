"""``nl2sql shell``: a place to live in while exploring a database in plain language.

A line is a question unless it starts like SQL (``select``, ``with``, …) or with a
backslash meta-command. Every command is registered once in :data:`COMMANDS`, and
``\\help`` is generated from that table. No error ever leaves the loop: it prints one
line and the prompt comes back.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from nl2sql import pipeline
from nl2sql.drafting.prompt import Turn
from nl2sql.errors import ConfigError, NL2SQLError
from nl2sql.governance import audit
from nl2sql.interfaces import listings, render
from nl2sql.interfaces.output import Format, emit, parse_format
from nl2sql.values import Answer

SQL_STARTS = ("select", "with", "from", "values", "(", "table", "explain", "pivot", "summarize",
              "insert", "update", "delete", "create", "drop", "alter", "copy", "attach", "set",
              "pragma", "call", "install", "load", "show", "describe")


@dataclass
class State:
    """What the shell remembers between lines."""

    session: pipeline.Session
    console: Any  # rich.console.Console
    format: Format = Format.TABLE
    drafter: str | None = None
    limit: int | None = None
    confirm: bool = False
    turns: list[Turn] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    last: Answer | None = None
    history: list[str] = field(default_factory=list)
    done: bool = False
    ask_yes_no: Callable[[str], bool] = lambda _prompt: True
    auditor: audit.Auditor | None = None  # set by start(): every query gets a record


def _audited(state: State, text: str, query: Callable[[], Answer], *, is_sql: bool,
             drafter: str | None) -> Answer:
    """Run ``query``, appending its audit record (answered or failed) when auditing."""
    if state.auditor is None:
        return query()
    return state.auditor.run(text, query, is_sql=is_sql, drafter=drafter)


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    help: str
    run: Callable[[State, str], None]


COMMANDS: dict[str, Command] = {}


def command(name: str, usage: str, help_text: str) -> Callable[[Callable[[State, str], None]],
                                                                 Callable[[State, str], None]]:
    """Register a meta-command (its ``\\help`` line comes from here)."""
    def register(func: Callable[[State, str], None]) -> Callable[[State, str], None]:
        COMMANDS[name] = Command(name, usage, help_text, func)
        return func
    return register


# --- running lines ---------------------------------------------------------------------


def is_sql(line: str) -> bool:
    """True when a line starts like SQL rather than like a question."""
    word = re.split(r"\s+", line.strip().lower(), maxsplit=1)[0] if line.strip() else ""
    return word.startswith(SQL_STARTS) and word.rstrip("(") in {s.rstrip("(") for s in SQL_STARTS}


def run_line(state: State, line: str) -> None:
    """Run one line; every failure becomes one printed line."""
    text = line.strip()
    if not text or text.startswith("--"):
        return
    state.history.append(text)
    try:
        if text.startswith("\\"):
            name, _, arg = text[1:].partition(" ")
            cmd = COMMANDS.get(name.lower())
            if cmd is None:
                raise ConfigError(f"unknown command \\{name}; \\help lists them")
            cmd.run(state, arg.strip())
        elif is_sql(text):
            run_sql(state, text.rstrip(";"))
        else:
            ask(state, text)
    except NL2SQLError as exc:
        rule = exc.details.get("rule")
        tag = f" [{rule}]" if rule and rule != exc.kind else ""
        # soft_wrap: one line, never cut at the console width (scripts grep these)
        state.console.print(f"error ({exc.kind}){tag}: {exc.message}", style="red", markup=False,
                            highlight=False, soft_wrap=True)
    except KeyboardInterrupt:
        state.console.print("cancelled", style="yellow")
    except Exception as exc:  # noqa: BLE001 - the shell must survive anything
        state.console.print(f"internal error: {type(exc).__name__}: {exc}", style="red",
                            markup=False, highlight=False, soft_wrap=True)


def show(state: State, answer: Answer) -> None:
    state.last = answer
    console = state.console
    tall = console.is_terminal and answer.row_count > max(console.height - 8, 10)
    if state.format is Format.TABLE and tall:
        with console.pager(styles=True):
            render.show_answer(answer, state.format, console)
    else:
        render.show_answer(answer, state.format, console)


def run_sql(state: State, sql: str) -> None:
    answer = _audited(state, sql, lambda: pipeline.run_sql(state.session, sql, row_limit=state.limit),
                      is_sql=True, drafter="user")
    show(state, answer)
    state.turns.append(Turn(question=f"(SQL) {sql}", sql=answer.sql))


def ask(state: State, question: str) -> None:
    """A question, or a follow-up that refines the previous one."""
    kind = pipeline.choose_drafter(state.session.settings, state.drafter)
    asked = question
    if kind == "offline" and state.questions:
        asked = refine_question(state.questions[-1], question,
                                state.session.drafting_catalog) or question
    approve = _approver(state) if state.confirm else None
    answer = _audited(state, asked, lambda: _draft_and_run(state, kind, asked, approve),
                      is_sql=False, drafter=kind)
    if asked != question:
        answer.notes.insert(0, f"follow-up read as: {asked}")
    show(state, answer)
    state.questions.append(asked)
    state.turns.append(Turn(question=question, sql=answer.sql))


def _draft_and_run(state: State, kind: str, question: str,
                   approve: Callable[[str], bool] | None) -> Answer:
    if kind == "model":
        with state.console.status("asking the model…", spinner="dots"):
            return pipeline.ask(state.session, question, conversation=state.turns[-6:],
                                drafter=state.drafter, row_limit=state.limit, approve=approve)
    return pipeline.ask(state.session, question, drafter=state.drafter, row_limit=state.limit)


def _approver(state: State) -> Callable[[str], bool]:
    def approve(sql: str) -> bool:
        from rich.syntax import Syntax

        state.console.print(Syntax(sql, "sql", word_wrap=True, theme="ansi_dark"))
        return state.ask_yes_no("run this query? [y/N] ")
    return approve


# Follow-ups: "now only for 2024", "break it down by channel", "只看上海的".
FOLLOW_UP = re.compile(
    r"^(?:(?:and|but|ok|okay|now|then|also|what about|how about|same for|same but|"
    r"only|just|instead|again)\b[\s,]*)+|^(?:那么?|再|只看|只要|仅看|换成|改成|改为|然后|那)",
    re.IGNORECASE)


def refine_question(previous: str, follow_up: str, catalog: Any = None) -> str | None:
    """The previous question with the follow-up's restriction added, for the offline
    drafter (the model gets the conversation instead). None when it is a new question.

    >>> refine_question("How many orders per city?", "now only for 2024")
    'How many orders per city for 2024'
    >>> refine_question("每个城市有多少客户？", "只看上海的")
    '每个城市有多少客户 上海的'
    """
    from nl2sql.drafting.offline.words import find_dates

    text = follow_up.strip()
    lowered = text.lower()
    starts = FOLLOW_UP.match(lowered)
    breakdown = re.match(r"^(?:now\s+)?(?:break (?:it|that|this) down|split (?:it|that))\s+", lowered)
    narrowing = re.match(r"^(?:top|bottom|first)\s+\w+|^(?:前|后)\s*\d|^(?:by|per|for|in)\s|^按",
                         lowered)
    if not starts and not breakdown and not narrowing:
        return None
    if breakdown:
        rest = text[breakdown.end():]
    else:
        rest = text[starts.end():] if starts else text
    base = previous.strip().rstrip("?？。.!")
    if find_dates(rest.lower()):  # "now for 2023": the new date replaces the old one
        for cue in sorted(find_dates(base.lower()), key=lambda c: -c.start):
            base = (base[:cue.start] + base[cue.end:]).strip()
    base = _replace_limits(base, rest)
    if catalog is not None:
        base = _replace_values(base, rest, catalog)
    rest = re.sub(r"[\s,]*(?:instead|please|then|呢|吧)[?？.。!]*$", "", rest.strip())
    if re.match(r"^(?:top|bottom|first)\s|^(?:前|后)\s*\d", rest.lower()):
        return f"{rest} {base}".strip()  # "top 10" reads before what it ranks
    return f"{base} {rest}".strip()


def _replace_limits(base: str, rest: str) -> str:
    """"top 10 instead": a new top-N replaces the old one."""
    from nl2sql.drafting.offline.words import find_cues

    if not any(c.kind in ("top", "bottom") for c in find_cues(rest.lower())):
        return base
    for cue in sorted((c for c in find_cues(base.lower()) if c.kind in ("top", "bottom")),
                      key=lambda c: -c.start):
        base = (base[:cue.start] + base[cue.end:]).strip()
    return base


def _replace_values(base: str, rest: str, catalog: Any) -> str:
    """"now for Beijing" after "... in Shanghai": a value of the same column replaces it."""
    from nl2sql.drafting.offline import index_for
    from nl2sql.drafting.offline.index import find
    from nl2sql.lexicon import normalize

    index = index_for(catalog)
    new_columns = {(t.table, t.column) for m in find(rest, index) if m.kind == "value"
                   for t in m.targets if t.kind == "value"}
    text = normalize(base)
    for m in sorted(find(base, index), key=lambda m: -m.start):
        columns = {(t.table, t.column) for t in m.targets if t.kind == "value"}
        if m.kind == "value" and columns & new_columns:
            text = (text[:m.start] + text[m.end:]).strip()
    return text if text != normalize(base) else base


# --- meta-commands ---------------------------------------------------------------------


@command("help", "\\help", "list the commands")
def _help(state: State, _arg: str) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None)
    for cmd in COMMANDS.values():
        table.add_row(cmd.usage, cmd.help)
    state.console.print(table)
    state.console.print("A line is a question (English or 中文); a line starting with SELECT/WITH "
                        "runs as SQL. Follow-ups refine the previous question.", style="dim")


@command("tables", "\\tables", "list the tables with row counts and descriptions")
def _tables(state: State, _arg: str) -> None:
    from rich.table import Table

    table = Table("table", "rows", "about", header_style="bold")
    for t in state.session.drafting_catalog.tables.values():
        table.add_row(t.name, "" if t.row_count is None else f"{t.row_count:,}", t.about or "")
    state.console.print(table)


@command("describe", "\\describe TABLE", "columns, types, keys and descriptions of a table")
def _describe(state: State, arg: str) -> None:
    from rich.table import Table

    from nl2sql.safety.guard import _unknown  # the same "did you mean" as the guard

    shown = state.session.drafting_catalog
    t = shown.table(arg)
    if t is None:
        raise _unknown("table", arg or "?", list(shown.tables))
    table = Table("column", "type", "key", "policy", "about", header_style="bold", title=t.name)
    fks = {c: f"→ {fk.ref_table}" for fk in t.foreign_keys for c in fk.columns}
    masks = state.session.access.masks
    for c in t.columns:
        key = "PK" if c.name in t.primary_key else fks.get(c.name, "")
        mask = masks.get(f"{t.name}.{c.name}")
        table.add_row(c.name, c.type, key, f"masked ({mask})" if mask else "", c.about or "")
    state.console.print(table)
    hidden = sorted(ref for ref in state.session.access.denied_columns
                    if ref.startswith(f"{t.name}."))
    if hidden:
        state.console.print(f"not available to role {state.session.access.role}: "
                            f"{', '.join(hidden)}", style="dim", markup=False)


@command("pii", "\\pii [SAMPLE]", "scan the database for personal data (as nl2sql scan-pii)")
def _pii(state: State, arg: str) -> None:
    from nl2sql.governance import pii

    sample = _count(arg, 1000)
    session = state.session
    findings = pii.scan(session.source, session.catalog, session.settings.cache_dir,
                        sample=sample)
    for finding in findings:  # even masked, examples of what the role may not see stay out
        if (finding.table in session.access.denied_tables
                or f"{finding.table}.{finding.column}" in session.access.denied_columns):
            finding.examples = ["(not available to role " + session.access.role + ")"]
    emit(listings.pii_output(findings), Format.TABLE, state.console)


@command("audit", "\\audit [N]", "the last N audit-log records (default 10), yours included")
def _audit(state: State, arg: str) -> None:
    records = list(audit.read(state.session.settings.audit_log))[-_count(arg, 10):]
    emit(listings.audit_output(records), Format.TABLE, state.console)


def _count(arg: str, default: int) -> int:
    if not arg:
        return default
    if not arg.isdigit() or int(arg) < 1:
        raise ConfigError(f"expected a positive number, not {arg!r}")
    return int(arg)


@command("catalog", "\\catalog [FILE.html|.md|.json]",
         "the data dictionary (as nl2sql catalog): print it, or write it to a file")
def _catalog(state: State, arg: str) -> None:
    import datetime as dt

    from nl2sql.governance import datadict

    doc = datadict.build(state.session.catalog, dt.datetime.now(dt.UTC))
    if not arg:
        state.console.print(datadict.to_markdown(doc), markup=False, highlight=False)
        return
    path = Path(arg).expanduser()
    formats = {".html": "html", ".htm": "html", ".md": "markdown", ".json": "json"}
    fmt = formats.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(f"\\catalog writes .html, .md or .json files, not {path.name!r}")
    datadict.write_file(path, datadict.render(doc, fmt))
    state.console.print(f"wrote the data dictionary to {path}", style="dim", markup=False)


@command("role", "\\role [NAME]", "the access-policy role: what it masks and hides; switch role")
def _role(state: State, arg: str) -> None:
    from nl2sql.safety import policy

    session = state.session
    if arg:
        pipeline.switch_role(session, arg)
        if state.auditor is not None:
            state.auditor = replace(state.auditor, role=session.access.role)
    summary = session.access.summary()
    lines = [f"role {summary['role']}" + (f": {summary['description']}"
                                          if summary["description"] else ""),
             f"roles: {', '.join(policy.role_names(session.catalog))}"]
    lines += [f"masked: {ref} ({mode})" for ref, mode in summary["masked"].items()]
    lines += [f"not available: {ref}" for ref in summary["denied_tables"]
              + summary["denied_columns"]]
    lines += [f"row filter on {t}: {cond}" for t, cond in summary["row_filters"].items()]
    state.console.print("\n".join(lines), markup=False, highlight=False)


@command("sql", "\\sql QUERY", "run a SQL query (same as typing it)")
def _sql(state: State, arg: str) -> None:
    if not arg:
        raise ConfigError("\\sql needs a query")
    run_sql(state, arg.rstrip(";"))


@command("history", "\\history [N]", "the last N lines of this session (default 20)")
def _history(state: State, arg: str) -> None:
    count = int(arg) if arg.isdigit() else 20
    for i, line in enumerate(state.history[-count - 1:-1], start=1):
        state.console.print(f"{i:>3}  {line}", markup=False, highlight=False)


@command("format", "\\format table|csv|json|markdown", "how results are printed")
def _format(state: State, arg: str) -> None:
    state.format = parse_format(arg, option="\\format")
    state.console.print(f"format: {arg}", style="dim")


@command("export", "\\export FILE.csv|.json|.md|.parquet", "save the last result to a file")
def _export(state: State, arg: str) -> None:
    answer = _last(state)
    path = Path(shlex.split(arg)[0] if arg else "").expanduser()
    if not arg:
        raise ConfigError("\\export needs a file name")
    export(answer, path)
    state.console.print(f"wrote {answer.row_count} rows to {path}", style="dim")


def export(answer: Answer, path: Path) -> None:
    """Write ``answer`` to ``path``; the format follows the extension."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        path.write_text(render.answer_text(answer, Format.CSV), encoding="utf-8")
    elif suffix == ".json":
        path.write_text(render.to_json({"columns": answer.columns, "rows": answer.rows,
                                        "sql": answer.sql}), encoding="utf-8")
    elif suffix in (".md", ".markdown"):
        path.write_text(render.answer_text(answer, Format.MARKDOWN), encoding="utf-8")
    elif suffix == ".parquet":
        _export_parquet(answer, path)
    else:
        raise ConfigError("\\export writes .csv, .json, .md or .parquet files")


def _export_parquet(answer: Answer, path: Path) -> None:
    # A private, unconfined DuckDB in this process writes the file; no user SQL runs here.
    import duckdb

    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "rows.csv"
        staging.write_text(render.answer_text(answer, Format.CSV), encoding="utf-8")
        con = duckdb.connect()
        source, target = (str(p).replace("'", "''") for p in (staging, path.resolve()))
        try:
            con.execute(f"COPY (SELECT * FROM read_csv('{source}', header = true)) "
                        f"TO '{target}' (FORMAT parquet)")
        except duckdb.Error as exc:
            raise ConfigError(f"cannot write {path}: {str(exc).splitlines()[0]}") from exc
        finally:
            con.close()


@command("chart", "\\chart [bar|line] [x] [y] [FILE.png]", "draw the last result; save a PNG")
def _chart(state: State, arg: str) -> None:
    from nl2sql.interfaces import chart

    answer = _last(state)
    words = shlex.split(arg)
    png = next((w for w in words if w.lower().endswith(".png")), None)
    words = [w for w in words if w != png]
    kind = words.pop(0) if words and words[0] in ("bar", "line") else None
    x = words.pop(0) if words else None
    y = words or None
    spec = chart.choose(answer.columns, answer.types, answer.rows, kind=kind, x=x, y=y)
    width = max(40, min(state.console.width, 120))
    text = chart.render_text(spec, answer.columns, answer.rows, width, 20)
    state.console.print(text, markup=False, highlight=False)
    if png:
        saved = chart.save_png(spec, answer.columns, answer.rows, Path(png).expanduser())
        state.console.print(f"saved {saved}", style="dim")


@command("drafter", "\\drafter auto|model|offline", "who writes the SQL for questions")
def _drafter(state: State, arg: str) -> None:
    if arg not in ("auto", "model", "offline"):
        raise ConfigError("\\drafter takes auto, model or offline")
    pipeline.choose_drafter(state.session.settings, arg)  # explains a missing key now
    state.drafter = None if arg == "auto" else arg
    state.console.print(f"drafter: {arg}", style="dim")


@command("limit", "\\limit N", "row limit for the following queries")
def _limit(state: State, arg: str) -> None:
    if not arg.isdigit() or int(arg) < 1:
        raise ConfigError("\\limit takes a positive number")
    state.limit = int(arg)
    state.console.print(f"row limit: {arg}", style="dim")


@command("confirm", "\\confirm on|off", "ask before running SQL written by the model")
def _confirm(state: State, arg: str) -> None:
    if arg not in ("on", "off"):
        raise ConfigError("\\confirm takes on or off")
    state.confirm = arg == "on"
    state.console.print(f"confirm: {arg}", style="dim")


@command("explain", "\\explain", "how the last query was understood, and DuckDB's plan")
def _explain(state: State, _arg: str) -> None:
    from nl2sql.safety import guard

    answer = _last(state)
    if answer.interpretation:
        state.console.print(f"Understood as: {answer.interpretation}", markup=False)
    query = guard.check(answer.sql, state.session.catalog,
                        guard.Policy(row_limit=state.limit or state.session.settings.row_limit),
                        access=state.session.access)
    state.console.print(state.session.engine.explain(query), markup=False, highlight=False)


@command("edit", "\\edit", "open the last SQL in $EDITOR, then run it")
def _edit(state: State, _arg: str) -> None:
    answer = _last(state)
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.NamedTemporaryFile("w+", suffix=".sql", delete=False, encoding="utf-8") as fh:
        fh.write(answer.sql + "\n")
        name = fh.name
    try:
        subprocess.run([*shlex.split(editor), name], check=False)
        sql = Path(name).read_text(encoding="utf-8").strip().rstrip(";")
    finally:
        os.unlink(name)
    if sql:
        run_sql(state, sql)


@command("quit", "\\quit", "leave the shell (Ctrl-D works too)")
def _quit(state: State, _arg: str) -> None:
    state.done = True


def _last(state: State) -> Answer:
    if state.last is None:
        raise ConfigError("there is no result yet: ask a question first")
    return state.last


# --- input: interactive and piped ------------------------------------------------------


def history_file() -> Path:
    """Per-user history under XDG_DATA_HOME (default ~/.local/share/nl2sql/history)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    path = Path(base) / "nl2sql" / "history"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def completion_words(state: State) -> list[str]:
    """Tables, columns and value aliases of the catalog (for completion)."""
    words: list[str] = []
    for t in state.session.drafting_catalog.tables.values():
        words.append(t.name)
        for c in t.columns:
            words.append(c.name)
            words += [alias for stored, aliases in c.values.items() for alias in [stored, *aliases]]
            if c.profile and not c.tags.get("pii"):
                words += [v for v, _ in c.profile.top_values]
    return list(dict.fromkeys(w for w in words if w))


def make_completer(state: State) -> Any:
    from prompt_toolkit.completion import Completer, Completion

    words = completion_words(state)

    class ShellCompleter(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Iterator[Any]:
            before = document.text_before_cursor
            if before.startswith("\\") and " " not in before:
                for name in COMMANDS:
                    if name.startswith(before[1:].lower()):
                        yield Completion("\\" + name, start_position=-len(before))
                return
            match = re.search(r"[\w\u4e00-\u9fff.]+$", before)
            word = match.group(0) if match else ""
            if not word:
                return
            word = word.split(".")[-1]
            lowered = word.lower()
            for candidate in words:
                if candidate.lower().startswith(lowered) and candidate != word:
                    yield Completion(candidate, start_position=-len(word))

    return ShellCompleter()


def interactive(state: State) -> None:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.lexers import PygmentsLexer
    from pygments.lexers.sql import SqlLexer

    bindings = KeyBindings()

    @bindings.add("enter")
    def _enter(event: Any) -> None:
        buffer = event.current_buffer
        text = buffer.text
        # SQL may span lines: it runs at ";" or on an empty line; questions run at once.
        if is_sql(text) and not text.rstrip().endswith(";") and not text.endswith("\n"):
            buffer.insert_text("\n")
        else:
            buffer.validate_and_handle()

    prompt: Any = PromptSession(history=FileHistory(str(history_file())), completer=make_completer(state),
                           lexer=PygmentsLexer(SqlLexer), key_bindings=bindings, multiline=True,
                           complete_while_typing=False)
    state.ask_yes_no = lambda text: prompt.prompt(text, multiline=False).strip().lower() in (
        "y", "yes", "是")
    name = state.session.catalog.name
    while not state.done:
        try:
            line = prompt.prompt(f"{name}> ", prompt_continuation=lambda w, n, s: "...> ")
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt clears the line
        except EOFError:
            break  # Ctrl-D
        run_line(state, line)


def piped(state: State, stream: TextIO | Iterable[str]) -> None:
    """Non-interactive use: run each line of ``stream``."""
    for line in stream:
        if state.done:
            break
        run_line(state, line)


def start(session: pipeline.Session, fmt: Format = Format.TABLE, drafter: str | None = None,
          stream: TextIO | None = None) -> None:
    from rich.console import Console

    console = Console()
    state = State(session=session, console=console, format=fmt, drafter=drafter,
                  auditor=audit.Auditor(session.settings.audit_log, audit.current_user(),
                                        session.catalog.name, session.source.kind, "shell",
                                        role=session.access.role))
    source = stream if stream is not None else sys.stdin
    if source.isatty() and sys.stdout.isatty():
        console.print(f"nl2sql shell · database {session.catalog.name} · "
                      f"{len(session.drafting_catalog.tables)} tables · role "
                      f"{session.access.role} · \\help for commands, Ctrl-D to leave",
                      style="dim")
        interactive(state)
    else:
        state.ask_yes_no = lambda _text: False  # nobody to ask: never run unseen model SQL
        piped(state, source)
