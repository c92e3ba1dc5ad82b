"""The ``nl2sql`` command line: the only place errors become messages and exit codes.

Exit codes: 0 ok, 2 usage or configuration, 3 refused by the guard,
4 execution error or timeout, 5 model unreachable or unusable,
6 the offline drafter declined, 130 interrupted.

Why one file of ~600 lines: it is the public contract — every command's flags, help and
example, one Typer signature each — and a reader checking what the CLI promises should
find all of it in one place. Each command's body is a few lines handing over to the
pipeline, governance, extract or the emitter (``output``); nothing else lives here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from nl2sql.errors import ConfigError, Interrupted, NL2SQLError
from nl2sql.settings import DEFAULT_DB, Settings, load_settings

app = typer.Typer(
    name="nl2sql",
    help="Ask a database questions in plain language (English or Chinese) and get a table "
         "back, with the SQL that produced it.\n\nExample: nl2sql ask \"How many customers "
         "are in each city?\"",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DbOption = Annotated[str | None, typer.Option(
    "--db", help="DuckDB or SQLite file, or a server URL: postgresql://, mysql://, sc:// (Spark "
                  "Connect) (default: NL2SQL_DB, else the bundled sample database).")]
# extract, themes and search: which rows of a text column, and what names each
KeyOption = Annotated[str | None, typer.Option(
    "--key", help="The column that identifies a row (default: the primary key).")]
WhereOption = Annotated[str | None, typer.Option(
    "--where", help="Only rows meeting this SQL condition (checked by the guard).")]
# text, not Path: plain text takes fast_params' light check (start-up time); _settings converts it
SemanticOption = Annotated[str | None, typer.Option(
    "--semantic", help="Semantic-layer file (policy, descriptions) to apply whatever the "
                       "database is called (default: NL2SQL_SEMANTIC, else the file in "
                       "schemas/ named after the database or whose tables it has).")]
FormatOption = Annotated[str, typer.Option(
    "--format", "-f", help="Output format: table, csv, json or markdown.")]
LimitOption = Annotated[int | None, typer.Option(
    "--limit", help="Row limit (a LIMIT is added or lowered to this).", min=1)]
WideOption = Annotated[bool, typer.Option(
    "--wide", help="Tables show every value in full, wrapped, instead of cutting long text "
                   "to the terminal's width.")]
RoleOption = Annotated[str | None, typer.Option(
    "--role", help="Access-policy role from schemas/*.yaml (e.g. analyst or steward); "
                   "default NL2SQL_ROLE, else the most restricted role.")]


def version_text() -> str:
    """``nl2sql <version>`` from the installed package's metadata."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"nl2sql {version('nl2sql')}"
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "nl2sql (not installed)"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", is_eager=True,
        callback=_show_version)] = False,
) -> None:
    # Options of nl2sql itself; the help text is the app's (Typer(help=...)).
    pass


def _settings(**flags: Any) -> Settings:
    if isinstance(flags.get("semantic"), str):
        flags["semantic"] = Path(flags["semantic"]).expanduser()
    return load_settings(flags=flags)


def _defaults(settings: Settings) -> Any:
    """What protects a database no policy covers: the scanner's defaults. Imported only when
    called (no policy found): the scanner's patterns are no cost to a database with one."""
    def protect(source: Any, catalog: Any, con: Any = None) -> Any:
        from nl2sql.governance.pii_default import ScannerDefaults

        return ScannerDefaults(settings)(source, catalog, con)

    return protect


def _emit_error(exc: NL2SQLError, fmt: str) -> None:
    if fmt == "json":
        from nl2sql.interfaces.render import to_json

        typer.echo(to_json({"error": exc.to_json()}))
    else:
        rule_name = exc.details.get("rule")
        rule = f" [{rule_name}]" if rule_name and rule_name != exc.kind else ""
        typer.echo(f"error ({exc.kind}){rule}: {exc.message}", err=True)
        from nl2sql.errors import DrafterDeclined

        if isinstance(exc, DrafterDeclined) and exc.readings:
            from nl2sql.interfaces.render import readings_text

            typer.echo(readings_text(exc.readings), err=True)


@contextmanager
def _errors(fmt: str) -> Iterator[None]:
    """Turn every failure into one line (or one JSON object) and its exit code."""
    try:
        yield
    except NL2SQLError as exc:
        _emit_error(exc, fmt)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        _emit_error(Interrupted("interrupted"), fmt)
        raise typer.Exit(Interrupted.exit_code) from None


def _format(fmt: str, allowed: tuple[str, ...] = ()) -> Any:
    """The :class:`~nl2sql.interfaces.output.Format` named by ``--format`` (exit 2 when
    the command does not offer it)."""
    from nl2sql.interfaces.output import ALL_FORMATS, Format, parse_format

    return parse_format(fmt, tuple(Format(a) for a in allowed) or ALL_FORMATS)


def ensure_sample_db(db: str) -> bool:
    """Build the bundled sample database on first use. True when it was built."""
    path = Path(db)
    if path.resolve() != DEFAULT_DB.resolve() or path.exists():
        return False
    from sample_db.generate import build

    build(path)
    return True


def _contributors(settings: Settings) -> list[Any]:
    """Tables kept beside the database that questions see: the extraction workspace (the
    extracted tables and the themes)."""
    from nl2sql.extract.theme_tables import ThemeTables
    from nl2sql.extract.workspace import WorkspaceTables

    return [WorkspaceTables(settings), ThemeTables(settings)]


def _protected_files(settings: Settings) -> list[Path]:
    """Files no output of ours may replace: the database and its extraction workspace."""
    from nl2sql.extract.workspace import path_for
    from nl2sql.schema.source import resolve

    try:
        source = resolve(settings.db)
    except NL2SQLError:
        return [Path(settings.db)]
    return [source.path, path_for(settings, source)]


def _sample_ready(settings: Settings, say: bool) -> None:
    """Build the sample database on first use (when ``--db`` is its default path), and say
    so on stderr when ``say``."""
    if ensure_sample_db(settings.db) and say:
        typer.echo(f"built the sample database at {settings.db}", err=True)


def _open(settings: Settings, quiet: bool, command: str = "") -> Any:
    from nl2sql import pipeline
    from nl2sql.errors import RoleRefused

    _sample_ready(settings, say=not quiet)
    try:
        return pipeline.open_session(settings, contributors=_contributors(settings),
                                     defaults=_defaults(settings))
    except RoleRefused as exc:  # someone tried a role that is not theirs: the log says so
        from nl2sql.governance import audit
        from nl2sql.identity import current_user

        audit.record_role_refusal(settings.audit_log, settings.role or "", exc,
                                  user=current_user(), database=Path(settings.db).stem,
                                  source_kind=None, command=command or "open")
        raise
    except ConfigError as exc:  # a server that cannot be reached or logged into: logged too
        _audit_unreachable(settings, exc, command)
        raise


def _audit_unreachable(settings: Settings, error: ConfigError, command: str) -> None:
    """The audit record of a server database that could not be opened (files are not
    audited for that: a missing file is no access attempt). Never shows the password."""
    from nl2sql.governance import audit
    from nl2sql.identity import current_user
    from nl2sql.schema.source import resolve

    try:
        source = resolve(settings.db)
    except ConfigError:
        return
    if not source.is_server:
        return
    audit.record_failure(settings.audit_log, f"connect to {source.location}", error,
                         is_sql=False, user=current_user(), role=settings.role,
                         database=source.alias, source_kind=source.kind,
                         command=command or "open")


def _auditor(settings: Settings, session: Any, command: str) -> Any:
    """Where this run's audit records go, and whose they are."""
    from nl2sql.governance import audit

    return audit.Auditor(settings.audit_log, audit.current_user(), session.catalog.name,
                         session.source.kind, command, role=session.access.role,
                         catalog=session.catalog)


def _planned_drafter(settings: Settings, requested: str | None) -> str:
    """The drafter a question goes to (for the audit record of a question that failed)."""
    from nl2sql import pipeline

    try:
        return pipeline.choose_drafter(settings, requested)
    except NL2SQLError:
        return requested or settings.drafter


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in English or Chinese.")],
    db: DbOption = None,
    semantic: SemanticOption = None,
    drafter: Annotated[str | None, typer.Option(
        "--drafter", help="auto (the model when OPENAI_API_KEY or OPENAI_BASE_URL is set, "
                          "else offline), model or offline.")] = None,
    fmt: FormatOption = "table",
    limit: LimitOption = None,
    role: RoleOption = None,
    wide: WideOption = False,
    reading: Annotated[int | None, typer.Option(
        "--reading", help="When the offline drafter declined the question as ambiguous and "
                          "listed its readings: answer with reading N (from 1).",
        min=1)] = None,
) -> None:
    """Answer a question about the database and show the SQL that produced the answer.

    Example: nl2sql ask "每个城市有多少客户？" --format json

    Example: nl2sql ask "phone numbers of customers in Shanghai" --role steward

    Example: nl2sql ask "categories with an average unit price above 1500" --reading 2
    """
    from nl2sql import pipeline
    from nl2sql.governance import audit
    from nl2sql.interfaces import render

    with _errors(fmt):
        output = _format(fmt)
        settings = _settings(db=db, semantic=semantic, drafter=drafter, row_limit=limit,
                             role=role)
        audit.prepare(settings.audit_log)
        with _open(settings, quiet=fmt != "table", command="ask") as session:
            answer = _auditor(settings, session, "ask").run(
                question, lambda: pipeline.ask(session, question, reading=reading),
                is_sql=False,
                drafter="offline" if reading else _planned_drafter(settings, drafter))
        render.show_answer(answer, output, None, wide=wide)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A SQL query (DuckDB dialect unless --dialect).")],
    db: DbOption = None,
    semantic: SemanticOption = None,
    fmt: FormatOption = "table",
    limit: LimitOption = None,
    dialect: Annotated[str, typer.Option(
        "--dialect", help="The query's dialect: duckdb, sqlite, mysql, postgres or spark. Other "
                          "than duckdb it is transpiled to DuckDB and common slips are "
                          "repaired (listed in the notes).")] = "duckdb",
    role: RoleOption = None,
    wide: WideOption = False,
) -> None:
    """Run a hand-written query through the same guard and engine as model SQL.

    Example: nl2sql sql "SELECT city, count(*) FROM customers GROUP BY city" -f csv

    Example: nl2sql sql 'SELECT name FROM t WHERE city = "Paris" LIMIT 5, 10' --dialect sqlite
    """
    from nl2sql import pipeline
    from nl2sql.governance import audit
    from nl2sql.interfaces import render
    from nl2sql.safety.dialects import dialect_name

    with _errors(fmt):
        output = _format(fmt)
        read = dialect_name(dialect)  # checked before the database is opened
        settings = _settings(db=db, semantic=semantic, row_limit=limit, role=role)
        audit.prepare(settings.audit_log)
        with _open(settings, quiet=fmt != "table", command="sql") as session:
            answer = _auditor(settings, session, "sql").run(
                query, lambda: pipeline.run_sql(session, query, dialect=read), is_sql=True,
                drafter="user")
        render.show_answer(answer, output, None, wide=wide)


@app.command()
def schema(
    db: DbOption = None,
    semantic: SemanticOption = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
) -> None:
    """Show the merged catalog (introspected tables plus the semantic layer) as the role
    sees it: denied tables and columns left out, masked columns without values.

    Example: nl2sql schema --format json | jq '.tables | keys'
    """
    with _errors(fmt):
        from nl2sql.interfaces.output import choose

        choose(fmt, ("text", "json"))
        settings = _settings(db=db, semantic=semantic)
        with _open(settings, quiet=fmt != "text", command="schema") as session:
            # what the role may see: no denied table or column, no value of a masked one
            catalog = session.drafting_catalog
        if fmt == "json":
            from nl2sql.interfaces.render import to_json

            typer.echo(to_json(catalog.to_json()))
        else:
            typer.echo(_catalog_text(catalog))


def _catalog_text(catalog: Any) -> str:
    from nl2sql.drafting.context import Context
    from nl2sql.drafting.prompt import schema_text

    head = f"-- database {catalog.name}" + (f": {catalog.description}" if catalog.description else "")
    files = f"\n-- semantic layer: {', '.join(catalog.semantic_files)}" if catalog.semantic_files else ""
    files += "".join(f"\n-- note: {note}" for note in catalog.notes)
    ctx = Context(tables=list(catalog.tables.values()), terms=catalog.terms,
                  examples=catalog.examples)
    return head + files + "\n" + schema_text(ctx)


@app.command()
def shell(
    db: DbOption = None,
    semantic: SemanticOption = None,
    drafter: Annotated[str | None, typer.Option(
        "--drafter", help="auto (the model when OPENAI_API_KEY or OPENAI_BASE_URL is set, "
                          "else offline), model or offline.")] = None,
    fmt: FormatOption = "table",
    role: RoleOption = None,
) -> None:
    """Explore the database interactively: questions, SQL, follow-ups, \\help for commands.

    Piped input runs each line and prints its result, for scripts.

    Example: nl2sql shell --db ../shared/datasets/chinook/Chinook_Sqlite.sqlite
    """
    from nl2sql.governance import audit
    from nl2sql.interfaces import shell as shell_module

    with _errors("text"):
        output = _format(fmt)
        settings = _settings(db=db, semantic=semantic, drafter=drafter, role=role)
        audit.prepare(settings.audit_log)
        with _open(settings, quiet=False, command="shell") as session:
            shell_module.start(session, fmt=output, drafter=drafter)


@app.command("eval")
def eval_(
    questions: Annotated[Path, typer.Argument(help="YAML file of questions with gold SQL.")],
    db: DbOption = None,
    semantic: SemanticOption = None,
    drafter: Annotated[str | None, typer.Option(
        "--drafter", help="auto, model or offline.")] = None,
    fmt: Annotated[str, typer.Option(
        "--format", "-f", help="table or json (csv and markdown: the table).")] = "table",
    show: Annotated[str, typer.Option(
        "--show", help="Also list questions that were: none, failed (wrong/declined) or all.")] = "none",
    role: RoleOption = None,
) -> None:
    """Run a question set and compare execution results with its gold SQL.

    Reports execution accuracy, answered and wrong shares, per category and language,
    and per-question latency.

    Example: nl2sql eval tests/eval/shop.yaml --drafter offline
    """
    from nl2sql import pipeline
    from nl2sql.drafting import evaluate
    from nl2sql.settings import PROJECT_ROOT

    with _errors(fmt):
        output = _format(fmt)
        from nl2sql.interfaces.output import choose

        choose(show, ("none", "failed", "all"), "--show")
        named, cases = evaluate.load_cases(questions)
        database = db or evaluate.resolve_database(named, questions, PROJECT_ROOT)
        settings = _settings(db=database, semantic=semantic, drafter=drafter, row_limit=100_000,
                             role=role)
        with _open(settings, quiet=fmt != "table", command="eval") as session:
            report = evaluate.run(cases, lambda q: pipeline.ask(session, q),
                                  lambda s: pipeline.run_sql(session, s))
        from nl2sql.interfaces.listings import eval_output
        from nl2sql.interfaces.output import emit

        emit(eval_output(report, show), output)


@app.command("scan-pii")
def scan_pii(
    db: DbOption = None,
    fmt: FormatOption = "table",
    sample: Annotated[int, typer.Option(
        "--sample", help="Rows sampled per column.", min=1)] = 1000,
    write: Annotated[Path | None, typer.Option(
        "--write", help="Add the findings to this semantic-layer YAML (pii: keys, "
                        "tags.pii_mentions for free text) for review; keeps comments and "
                        "every value already set.")] = None,
    wide: WideOption = False,
) -> None:
    """Find columns holding personal data: phones, e-mails, resident IDs, bank cards,
    IP and postal addresses, names, birth dates — also inside free text.

    Examples are masked (138****5678).

    Example: nl2sql scan-pii --format json --sample 500

    Example: nl2sql scan-pii --write schemas/shop.yaml
    """
    with _errors(fmt):
        output = _format(fmt)
        findings, written = _scan_pii(_settings(db=db), sample, quiet=fmt != "table", write=write)
        from nl2sql.interfaces.listings import pii_output
        from nl2sql.interfaces.output import emit

        emit(pii_output(findings, written), output, None, wide=wide)
        if written is not None and fmt != "json":
            _print_written(written, fmt)


def _print_written(report: Any, fmt: str) -> None:
    """What --write did; on stderr for csv/markdown so standard output stays one table."""
    from nl2sql.governance.pii_write import report_lines

    for line in report_lines(report):
        typer.echo(line, err=fmt in ("csv", "markdown"))


def _scan_pii(settings: Settings, sample: int, quiet: bool,
              write: Path | None = None) -> tuple[Any, Any]:
    from nl2sql.governance import pii, pii_write
    from nl2sql.schema.introspect import introspect
    from nl2sql.schema.source import connect, resolve

    _sample_ready(settings, say=not quiet)
    source = resolve(settings.db)
    con = connect(source, settings.cache_dir)
    try:
        catalog = introspect(source, con, settings.cache_dir)
    finally:
        con.close()
    target = pii_write.load_target(write, catalog.name) if write else None  # refuse before scanning
    findings = pii.scan(source, catalog, settings.cache_dir, sample=sample)
    return findings, (pii_write.write_findings(target, findings) if target else None)


@app.command("audit")
def audit_(
    since: Annotated[str | None, typer.Option(
        "--since", help="Only records from then on: a date (2026-01-01), an ISO timestamp, "
                        "or an age such as 30m, 1h, 7d.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's records.")] = None,
    fmt: Annotated[str, typer.Option(
        "--format", "-f", help="table, json (one array), csv or markdown.")] = "table",
    limit: Annotated[int | None, typer.Option(
        "--limit", help="Only the newest N records.", min=1)] = None,
    role: Annotated[str | None, typer.Option(
        "--role", help="Only records made under this access-policy role.")] = None,
    command: Annotated[str | None, typer.Option(
        "--command", help="Only this command: ask, sql, shell, extract, themes or "
                          "search.")] = None,
    decision: Annotated[str | None, typer.Option(
        "--decision", help="Only accepted, refused, declined or failed records.")] = None,
    column: Annotated[str | None, typer.Option(
        "--column", help="Only queries that read this table.column (or any column of a "
                         "table): who read customers.phone?")] = None,
    wide: WideOption = False,
) -> None:
    """Show the audit log: every ask, sql, shell query and extraction, who ran it and what
    became of it.

    Records are listed oldest first (newest last). The log is NL2SQL_AUDIT_LOG.

    Example: nl2sql audit --since 7d --user alice --format json

    Example: nl2sql audit --column customers.phone --decision accepted
    """
    from nl2sql.governance import audit
    from nl2sql.interfaces.listings import audit_output
    from nl2sql.interfaces.output import emit

    with _errors(fmt):
        output = _format(fmt)
        moment = audit.parse_since(since) if since else None
        settings = _settings()
        records = audit.read(settings.audit_log, since=moment, user=user)
        listed = audit.narrow(records, role=role, command=command, decision=decision,
                              column=column)
        if limit is not None:
            listed = listed[-limit:]
        emit(audit_output(listed), output, None, wide=wide)
        if records.skipped:
            typer.echo(f"warning: skipped {records.skipped} unreadable line(s) in "
                       f"{settings.audit_log}", err=True)


@app.command("catalog")
def catalog_(
    db: DbOption = None,
    semantic: SemanticOption = None,
    fmt: Annotated[str, typer.Option(
        "--format", "-f", help="markdown (default), html (one self-contained page) or json "
                               "(the document model).")] = "markdown",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write to this file (replaced atomically) instead of standard "
                               "output.")] = None,
) -> None:
    """Write the data dictionary: every table and column with type, description, keys,
    profile, personal-data tags and what each role may see.

    Values of personal-data columns, and of columns masked or denied for any role, are
    never shown.

    Example: nl2sql catalog --format html --output shop.html
    """
    import datetime as dt

    from nl2sql.governance import datadict

    with _errors(fmt):
        from nl2sql.interfaces.output import choose

        choose(fmt, datadict.FORMATS)  # a document, not a table: formats of its own
        settings = _settings(db=db, semantic=semantic)
        doc = datadict.build(_semantic_catalog(settings), dt.datetime.now(dt.UTC))
        text = datadict.render(doc, fmt)
        if output is None:
            sys.stdout.write(text)
            return
        from nl2sql.files import refuse_overwriting

        refuse_overwriting(output, _protected_files(settings), "--output")
        datadict.write_file(output, text)
        typer.echo(f"wrote the data dictionary of {doc.database.name} "
                   f"({doc.summary.tables} tables) to {output}", err=True)


def _semantic_catalog(settings: Settings) -> Any:
    """Introspection plus the semantic layer, without the query engine or a chosen role:
    the dictionary shows every role."""
    from nl2sql import pipeline

    _sample_ready(settings, say=True)
    # extracted tables too, and the scanner's defaults where no policy covers the database
    return pipeline.load_catalog(settings, _contributors(settings), _defaults(settings))[1]


@app.command("sample-db")
def sample_db(
    scale: Annotated[float, typer.Option("--scale", help="1 ≈ 20,000 orders; 50 ≈ 1M.",
                                         min=0.01)] = 1.0,
    out: Annotated[str | None, typer.Option(
        "--out", help="Where to write the DuckDB file, or the URL of an empty server database "
                      "to load it into (postgresql://user:password@host:port/db or "
                      "mysql://...), or a Spark Connect server (sc://host:15002, Parquet "
                      "tables).")] = None,
) -> None:
    """Build the deterministic sample database (a Chinese e-commerce shop).

    Example: nl2sql sample-db --scale 50 --out /tmp/shop50.duckdb
    Example: nl2sql sample-db --scale 0.1 --out postgresql://me:secret@localhost:5432/shop
    Example: nl2sql sample-db --out sc://localhost:15002
    """
    with _errors("text"):
        from sample_db.generate import DEFAULT_PATH, build
        from sample_db.to_server import is_server_url, load_sample

        if out is not None and out.lower().startswith("sc://"):
            from sample_db.to_spark import load_sample as load_spark

            typer.echo(load_spark(out, scale).target)  # the token hidden
            return
        if out is not None and is_server_url(out):
            typer.echo(load_sample(out, scale).target)  # the password hidden
            return
        target = Path(out) if out else DEFAULT_PATH
        build(target, scale=scale)
        typer.echo(str(target))


@app.command()
def extract(
    source: Annotated[str, typer.Option(
        "--from", help="The text to read: TABLE.COLUMN of the source database.")],
    spec: Annotated[str, typer.Option(
        "--spec", help="The fields to extract: a spec YAML file, or the name of one in "
                       "schemas/extract/ (review_insights, ticket_qa, pii_mentions).")],
    db: DbOption = None,
    semantic: SemanticOption = None,
    key: KeyOption = None,
    into: Annotated[str | None, typer.Option(
        "--into", help="The table to write in the workspace (default: the spec's name).")] = None,
    where: WhereOption = None,
    limit: Annotated[int | None, typer.Option(
        "--limit", help="Only the first N rows by key.", min=1)] = None,
    concurrency: Annotated[int, typer.Option(
        "--concurrency", help="Model requests in flight at once.", min=1, max=256)] = 8,
    budget_tokens: Annotated[int | None, typer.Option(
        "--budget-tokens", help="Stop before the run's tokens (in + out) would exceed this.",
        min=1)] = None,
    sample: Annotated[int | None, typer.Option(
        "--sample", help="Extract N rows spread over the selection and show them beside "
                         "their text; writes no table (answers are cached).", min=1)] = None,
    workspace: Annotated[Path | None, typer.Option(
        "--workspace", help="The workspace DuckDB file (default: NL2SQL_WORKSPACE, else one "
                            "per database under $XDG_DATA_HOME/nl2sql/workspace).")] = None,
    retry_invalid: Annotated[bool, typer.Option(
        "--retry-invalid", help="Ask again for rows whose answer was invalid.")] = False,
    replace: Annotated[bool, typer.Option(
        "--replace", help="Rebuild the table when it was made with a different spec.")] = False,
    send_personal_data: Annotated[bool, typer.Option(
        "--send-personal-data", help="Send phone numbers, e-mails, ID numbers and addresses "
                                     "found in the texts to the model as they are (default: "
                                     "each is replaced by its kind, e.g. [phone]).")] = False,
    role: RoleOption = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """Turn free text into a table of typed fields with the model: sentiment, labels,
    flags, dates, personal-data mentions, one row per source key, with provenance.

    Results go to a separate workspace file (the database stays read-only) that questions
    read, so `nl2sql ask` works on the new table right away. Reruns skip finished rows
    and reuse cached answers. Without OPENAI_API_KEY only detector fields (pii.*) are
    filled.

    Example: nl2sql extract --from reviews.review_text --key review_id --spec review_insights --sample 20

    Example: nl2sql extract --from support_tickets.transcript --spec ticket_qa --budget-tokens 900000
    """
    from nl2sql.errors import ModelError
    from nl2sql.extract import report, runner

    with _errors(fmt):
        _format(fmt, ("table", "json"))
        settings = _settings(db=db, semantic=semantic, workspace=workspace, role=role)
        _sample_ready(settings, say=fmt == "table")
        request = runner.Request(
            source=source, spec=spec, key=key, into=into, where=where, limit=limit,
            concurrency=concurrency, budget_tokens=budget_tokens, sample=sample,
            retry_invalid=retry_invalid, replace=replace,
            send_personal_data=send_personal_data)
        job = _prepared_extract(settings, request)
        outcome = _audited_extract(settings, job, fmt)
        failed = outcome.summary.status.get("failed", 0)
        message = (f"{failed:,} rows failed ({outcome.summary.last_failure}); run the same "
                   "command again to retry them")
        if failed and fmt == "json":  # one JSON document: the error carries the summary
            raise ModelError(message, summary=outcome.summary.to_json())
        report.print_outcome(outcome, fmt)
        if failed:
            raise ModelError(message)


def _prepared_extract(settings: Settings, request: Any) -> Any:
    """Plan an extraction; a refused ``--where`` (or any other refusal) is audited too."""
    from nl2sql.extract import runner
    from nl2sql.governance import audit

    audit.prepare(settings.audit_log)
    try:
        return runner.prepare(settings, request)
    except NL2SQLError as exc:
        audit.record_failure(
            settings.audit_log, f"extract {request.source} (spec {request.spec})"
            + (f" where {request.where}" if request.where else ""), exc, is_sql=False,
            user=audit.current_user(), role=settings.role, database=Path(settings.db).stem,
            command="extract", drafter=None)
        raise


def _audited_extract(settings: Settings, job: Any, fmt: str) -> Any:
    """Run an extraction and append its audit record, whether it finished or not (the
    log was opened by :func:`_prepared_extract`)."""
    import time

    from nl2sql.extract import report, runner
    from nl2sql.governance import audit

    started = time.perf_counter()
    error: NL2SQLError | None = None
    summary: dict[str, Any] = {"source": job.request.source, "table": job.target.table,
                               "spec": job.spec.name, "model": job.model}
    try:
        with report.progress_bar(fmt == "table") as on_progress:
            outcome = runner.run(job, on_progress)
        summary = outcome.summary.to_json()
        return outcome
    except (NL2SQLError, KeyboardInterrupt) as exc:
        error = exc if isinstance(exc, NL2SQLError) else Interrupted("interrupted")
        raise
    finally:
        # samples too: their texts went to the model
        audit.append(settings.audit_log, audit.extract_record(
            summary | {"sample": job.request.sample}, user=audit.current_user(),
            role=job.role, database=job.target.source.alias,
            source_kind=job.target.source.kind, sql=job.selection_sql,
            tables=[job.target.source_table], columns=job.read,
            elapsed_ms=(time.perf_counter() - started) * 1000, error=error,
            catalog=job.catalog))


WorkspaceOption = Annotated[Path | None, typer.Option(
    "--workspace", help="The workspace DuckDB file (default: NL2SQL_WORKSPACE, else one per "
                        "database under $XDG_DATA_HOME/nl2sql/workspace).")]


def _k_value(value: str) -> int | None:
    """``--k``: a number of themes, or ``auto`` (None)."""
    if value.strip().lower() == "auto":
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"--k must be a number of themes or auto, not {value!r}") from None


@app.command()
def themes(
    source: Annotated[str, typer.Option(
        "--from", help="The text to group: TABLE.COLUMN of the source database.")],
    db: DbOption = None,
    semantic: SemanticOption = None,
    key: KeyOption = None,
    k: Annotated[str, typer.Option(
        "--k", help="Number of themes, or auto (chosen by silhouette among 2-12).")] = "auto",
    where: WhereOption = None,
    into: Annotated[str | None, typer.Option(
        "--into", help="The themes table to write in the workspace (default: TABLE_themes; "
                       "the rows' themes go to INTO_members).")] = None,
    workspace: WorkspaceOption = None,
    role: RoleOption = None,
    fmt: FormatOption = "table",
    wide: WideOption = False,
) -> None:
    """Group free text by meaning into themes, name each theme, and write the themes and
    each row's theme to the workspace, where questions can use them.

    Texts are embedded locally (multilingual-e5-small, no server) unless
    NL2SQL_EMBEDDING_MODEL names a remote model; vectors are kept, so reruns embed only new
    texts. Themes are named by the chat model when one is configured, else by their most
    distinctive words.

    Example: nl2sql themes --from support_tickets.transcript

    Example: nl2sql themes --from reviews.review_text --k 8 --where "rating <= 2"
    """
    from nl2sql.extract import themes as themes_module
    from nl2sql.interfaces.output import emit
    from nl2sql.interfaces.text_audit import planned_then_run
    from nl2sql.interfaces.text_listings import themes_output

    with _errors(fmt):
        chosen_format = _format(fmt, ("table", "json", "csv", "markdown"))
        settings = _settings(db=db, semantic=semantic, workspace=workspace, role=role)
        _sample_ready(settings, say=fmt == "table")
        request = themes_module.Request(source=source, key=key, k=_k_value(k), where=where,
                                        into=into)
        question = f"themes {source}" + (f" where {where}" if where else "")
        outcome = planned_then_run(
            settings, "themes", question, lambda: themes_module.prepare(settings, request),
            lambda job: _with_progress(fmt, lambda p: themes_module.run(job, p)),
            lambda job: job.texts)
        emit(themes_output(outcome), chosen_format, wide=wide)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in any language.")],
    source: Annotated[str, typer.Option(
        "--in", help="The text to search: TABLE.COLUMN of the source database.")],
    db: DbOption = None,
    semantic: SemanticOption = None,
    key: KeyOption = None,
    where: WhereOption = None,
    limit: Annotated[int, typer.Option("--limit", help="How many texts to show.", min=1,
                                       max=1000)] = 10,
    workspace: WorkspaceOption = None,
    role: RoleOption = None,
    fmt: FormatOption = "table",
    wide: WideOption = False,
) -> None:
    """Find the texts nearest in meaning to QUERY (Chinese or English), with their keys
    and similarity scores, under the role's access policy.

    The first search over a column embeds its texts (kept in the workspace); later ones
    embed only new texts.

    Example: nl2sql search "物流太慢" --in reviews.review_text --limit 10

    Example: nl2sql search "rude agent" --in support_tickets.transcript --where "satisfaction <= 2"
    """
    from nl2sql.extract import search as search_module
    from nl2sql.interfaces.output import emit
    from nl2sql.interfaces.text_audit import planned_then_run, search_question
    from nl2sql.interfaces.text_listings import search_output

    with _errors(fmt):
        chosen_format = _format(fmt, ("table", "json", "csv", "markdown"))
        settings = _settings(db=db, semantic=semantic, workspace=workspace, role=role)
        _sample_ready(settings, say=fmt == "table")
        request = search_module.Request(query=query, source=source, key=key, where=where,
                                        limit=limit)
        outcome = planned_then_run(
            settings, "search", search_question(request),
            lambda: search_module.prepare(settings, request),
            lambda chosen: _with_progress(
                fmt, lambda p: search_module.run(settings, request, chosen, p)),
            lambda chosen: chosen)
        emit(search_output(outcome), chosen_format, wide=wide)


def _with_progress(fmt: str, work: Callable[[Any], Any]) -> Any:
    from nl2sql.interfaces.text_listings import embedding_progress

    with embedding_progress(fmt == "table") as on_progress:
        return work(on_progress)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    from nl2sql.interfaces.fast_params import install
    from nl2sql.interfaces.lazy_commands import click_command

    try:
        install()  # plain values skip Typer's Pydantic import (start-up time); see the module
        command: Callable[..., Any] = click_command(app)  # only the command that runs is built
        command(args=argv, prog_name="nl2sql", standalone_mode=True)
    except KeyboardInterrupt:
        typer.echo("error (interrupted): interrupted", err=True)
        raise SystemExit(Interrupted.exit_code) from None


if __name__ == "__main__":
    main()
