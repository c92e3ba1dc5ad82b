"""The meta-commands (``\\tables``, ``\\describe``, ``\\format``, …), each registered
with its ``\\help`` line."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from nl2sql import pipeline
from nl2sql.errors import ConfigError, RoleRefused
from nl2sql.files import refuse_overwriting
from nl2sql.governance import audit
from nl2sql.interfaces import listings, render
from nl2sql.interfaces.output import Column, Fit, Format, Listing, Output, emit, parse_format
from nl2sql.interfaces.shell.export import write
from nl2sql.interfaces.shell.registry import COMMANDS, command, count
from nl2sql.interfaces.shell.run import run_sql
from nl2sql.interfaces.shell.state import State, last_answer


def protected_files(state: State) -> list[str | None]:
    """What no file the shell writes may replace: the database and its workspace."""
    return [state.session.source.location, state.session.source.workspace]


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
    tables = list(state.session.drafting_catalog.tables.values())
    listing = Listing([Column("table", "VARCHAR", Fit.SHRINK), Column("rows", "BIGINT", Fit.KEEP),
                       Column("about", "VARCHAR", Fit.FREE)],
                      [[t.name, t.row_count, t.about or ""] for t in tables], null="")
    emit(Output(listing, None), Format.TABLE, state.console)


@command("describe", "\\describe TABLE", "columns, types, keys and descriptions of a table")
def _describe(state: State, arg: str) -> None:
    from nl2sql.safety.guard import _unknown  # the same "did you mean" as the guard

    shown = state.session.drafting_catalog
    t = shown.table(arg)
    if t is None:
        raise _unknown("table", arg or "?", list(shown.tables))
    fks = {c: f"→ {fk.ref_table}" for fk in t.foreign_keys for c in fk.columns}
    altered = state.session.access.altered  # masks, and text whose values are redacted
    rows = []
    for c in t.columns:
        key = "PK" if c.name in t.primary_key else fks.get(c.name, "")
        mode = altered.get(f"{t.name}.{c.name}")
        rule = ("" if mode is None else "text redacted" if mode == "redact_text"
                else f"masked ({mode})")
        rows.append([c.name, c.type, key, rule, c.about or ""])
    columns = [Column("column", "VARCHAR", Fit.SHRINK), Column("type", "VARCHAR", Fit.KEEP),
               Column("key", "VARCHAR", Fit.KEEP), Column("policy", "VARCHAR", Fit.KEEP),
               Column("about", "VARCHAR", Fit.FREE)]
    emit(Output(Listing(columns, rows, title=t.name), None), Format.TABLE, state.console)
    hidden = sorted(ref for ref in state.session.access.denied_columns
                    if ref.startswith(f"{t.name}."))
    if hidden:
        state.console.print(f"not available to role {state.session.access.role}: "
                            f"{', '.join(hidden)}", style="dim", markup=False)


@command("pii", "\\pii [SAMPLE]", "scan the database for personal data (as nl2sql scan-pii)")
def _pii(state: State, arg: str) -> None:
    from nl2sql.governance import pii

    sample = count(arg, 1000)
    session = state.session
    findings = pii.scan(session.source, session.catalog, session.settings.cache_dir,
                        sample=sample)
    for finding in findings:  # even masked, examples of what the role may not see stay out
        if (finding.table in session.access.denied_tables
                or f"{finding.table}.{finding.column}" in session.access.denied_columns):
            finding.examples = ["(not available to role " + session.access.role + ")"]
    emit(listings.pii_output(findings), Format.TABLE, state.console,
         wider="a wider window shows them")


@command("audit", "\\audit [N]", "the last N audit-log records (default 10), yours included")
def _audit(state: State, arg: str) -> None:
    records = list(audit.read(state.session.settings.audit_log))[-count(arg, 10):]
    emit(listings.audit_output(records), Format.TABLE, state.console,
         wider="a wider window shows them")


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
    refuse_overwriting(path, protected_files(state), "\\catalog")
    datadict.write_file(path, datadict.render(doc, fmt))
    state.console.print(f"wrote the data dictionary to {path}", style="dim", markup=False)


@command("role", "\\role [NAME]", "the access-policy role: what it masks and hides; switch role")
def _role(state: State, arg: str) -> None:
    from nl2sql.safety import policy

    session = state.session
    if arg:
        try:
            pipeline.switch_role(session, arg)
        except RoleRefused as exc:  # a role that is not this user's: the audit log says so
            if state.auditor is not None:
                a = state.auditor
                audit.record_role_refusal(a.path, arg, exc, user=a.user, database=a.database,
                                          source_kind=a.source_kind, command=a.command)
            raise
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
    answer = last_answer(state)
    path = Path(shlex.split(arg)[0] if arg else "").expanduser()
    if not arg:
        raise ConfigError("\\export needs a file name")
    refuse_overwriting(path, protected_files(state), "\\export")
    write(answer, path)
    state.console.print(f"wrote {answer.row_count} rows to {path}", style="dim")


@command("chart", "\\chart [bar|line] [x] [y] [FILE.png]", "draw the last result; save a PNG")
def _chart(state: State, arg: str) -> None:
    from nl2sql.interfaces import chart

    answer = last_answer(state)
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
        refuse_overwriting(Path(png).expanduser(), protected_files(state), "\\chart")
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

    answer = last_answer(state)
    if answer.interpretation:
        state.console.print(f"Understood as: {render.understood(answer)}", markup=False)
    query = guard.check(answer.sql, state.session.catalog,
                        guard.Policy(row_limit=state.limit or state.session.settings.row_limit),
                        access=state.session.access)
    state.console.print(state.session.engine.explain(query), markup=False, highlight=False)


@command("edit", "\\edit", "open the last SQL in $EDITOR, then run it")
def _edit(state: State, _arg: str) -> None:
    answer = last_answer(state)
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


@command("search", "\\search TEXT --in TABLE.COLUMN [--limit N] [--where COND]",
         "the texts nearest in meaning to TEXT (as nl2sql search), under the role's policy")
def _search(state: State, arg: str) -> None:
    from nl2sql.extract import search
    from nl2sql.interfaces.text_audit import planned_then_run, search_question
    from nl2sql.interfaces.text_listings import search_output

    request = search_request(arg)
    # the shell's current role (\role may have switched it), not the one it started with
    settings = replace(state.session.settings, role=state.session.access.role)
    outcome = planned_then_run(settings, "search", search_question(request),
                               lambda: search.prepare(settings, request),
                               lambda chosen: search.run(settings, request, chosen),
                               lambda chosen: chosen)
    emit(search_output(outcome), state.format, state.console)


def search_request(arg: str) -> Any:
    """``TEXT --in TABLE.COLUMN [--limit N] [--where COND] [--key COL]`` (shell quoting)."""
    from nl2sql.extract.search import DEFAULT_LIMIT, Request

    try:
        words = shlex.split(arg)
    except ValueError as exc:
        raise ConfigError(f"\\search: {exc}") from None
    options: dict[str, str] = {}
    query: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("--in", "--limit", "--where", "--key"):
            if i + 1 >= len(words):
                raise ConfigError(f"\\search: {word} needs a value")
            options[word] = words[i + 1]
            i += 2
            continue
        if word.startswith("--"):
            raise ConfigError(f"\\search: unknown option {word} (--in, --limit, --where, --key)")
        query.append(word)
        i += 1
    if "--in" not in options or not query:
        raise ConfigError("usage: \\search TEXT --in TABLE.COLUMN [--limit N] [--where COND]")
    return Request(query=" ".join(query), source=options["--in"], key=options.get("--key"),
                   where=options.get("--where"),
                   limit=count(options.get("--limit", ""), DEFAULT_LIMIT))
