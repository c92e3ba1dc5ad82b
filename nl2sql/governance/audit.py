"""The audit log: one JSON line per query, appended, never rewritten.

Every ``nl2sql ask``, ``nl2sql sql`` and shell query (questions and SQL, answered or
not) appends one record. The file is JSON lines, UTF-8, mode 0600 in a 0700 folder.

Record schema (``v: 1``; in code a typed :class:`AuditRecord`, whose ``to_json`` writes
exactly these keys and whose ``from_json`` reads any earlier line)::

    v            1
    time         ISO-8601 UTC, milliseconds ("2026-01-01T09:30:00.123+00:00")
    user         the OS user of the real uid (nl2sql.identity; not $LOGNAME)
    role         the access-policy role the query ran under (schemas/*.yaml roles:)
    database     catalog name ("shop");  source_kind: "duckdb" | "sqlite"
    command      "ask" | "sql" | "shell" | "extract"
    question     the question as asked (null for SQL)
    sql          the SQL that ran (accepted), else the last SQL tried / the SQL given
    drafter      "offline", "model:<name>", "user" (hand-written SQL), or null
    attempts     [{sql, drafter, ok, stage, error: {kind, rule, message} | null}]
    decision     "accepted" | "refused" (the guard) | "declined" (offline drafter) | "failed"
    reason       why it was not accepted (the error message), null when accepted
    rule         the guard rule that refused it, null otherwise
    tables       tables the accepted query read;  columns: "table.column" read
    rows         rows returned (null when nothing ran)
    extract      (command "extract" only) the run's summary: table, workspace, spec, model,
                 rows per status, tokens, cost; sql is the selection that read the text
    masking      [{column, source, mode}]: output columns masked, the "table.column" they
                 derive from (by lineage; column "*" when read through a whole row) and
                 the mask (partial, hash, redact); [] when nothing was masked
    elapsed_ms   time spent on the query, model calls included
    error        {kind, message} or null
    redacted     ["table.column"]: the personal columns whose compared literals the sql
                 and attempts keep as '[redacted]' ("*": a column that could not be
                 resolved); [] when none. Absent from lines written before redaction.

No personal value is kept (:mod:`nl2sql.governance.audit_redact`): literals compared with
a column some role may not see in clear are replaced on the syntax tree, values the
scanner's detectors recognise are replaced by their kind in the SQL's strings, the question
and every error message, and the quoted values of error messages are scrubbed. A failed or
refused query lists the columns it touched. Listings (:func:`shown`) redact a line written
before this, with every column counted as personal.

Durability: a record is written with one ``os.write`` on an ``O_APPEND`` descriptor
(opened read-write only so that the writer can check the last byte)
while holding ``flock(LOCK_EX)``, then ``fsync``-ed, so concurrent writers (threads or
processes) never interleave and a crash can at worst leave the *last* line torn. A
writer that finds the file not ending in a newline (a torn line left by a crash) starts
its record on a new line, so a torn line never swallows the next record; :func:`read`
skips unparsable lines and counts them.

Errors: :func:`prepare` raises :class:`ConfigError` when the log cannot be opened at
startup (a governance tool should not run unaudited). Once running, :func:`append`
never raises: an ``OSError`` (disk full, file removed under a read-only mount) is
swallowed and counted in :data:`STATS` so that a failing audit write never loses the
user's answer; the caller may report :func:`dropped`.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nl2sql.errors import (
    ConfigError,
    DrafterDeclined,
    Interrupted,
    InvalidSQL,
    NL2SQLError,
    RoleRefused,
    UnsafeSQL,
)
from nl2sql.governance.audit_record import (  # noqa: F401  (re-exported: audit.AuditRecord…)
    VERSION,
    AttemptError,
    AuditAttempt,
    AuditRecord,
    Masked,
    RecordError,
)
from nl2sql.identity import current_user  # noqa: F401  (re-exported: audit.current_user)
from nl2sql.values import Answer, Attempt

if TYPE_CHECKING:
    from nl2sql.catalog import Catalog

COMMANDS = ("ask", "sql", "shell")
LIST_COLUMNS = ("time", "user", "role", "command", "decision", "query", "rows", "masked",
                "elapsed_ms")


@dataclass
class Stats:
    """Appends written and dropped (an OSError swallowed) by this process."""

    written: int = 0
    dropped: int = 0
    last_error: str | None = None


STATS = Stats()


def dropped() -> int:
    """How many records this process failed to write."""
    return STATS.dropped


def now_iso() -> str:
    """The current time, ISO-8601 UTC with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# --- building records ---------------------------------------------------------------------


def _attempt(raw: Attempt | Mapping[str, Any]) -> AuditAttempt:
    """An attempt (``Attempt``, or its dict from ``error.details``) reduced to what the log
    keeps."""
    data: Mapping[str, Any] = raw if isinstance(raw, Mapping) else raw.__dict__
    error = data.get("error")
    return AuditAttempt(
        sql=data.get("sql"), drafter=data.get("drafter"), ok=bool(data.get("ok")),
        stage=data.get("stage"),
        error=None if not error else AttemptError(kind=error.get("kind"), rule=error.get("rule"),
                                                  message=error.get("message")))


def decision_for(error: NL2SQLError) -> str:
    """``refused`` by the guard, ``declined`` by the offline drafter, else ``failed`` (SQL
    that does not parse is a failed query, not a refusal)."""
    if isinstance(error, RoleRefused) or (isinstance(error, UnsafeSQL)
                                          and not isinstance(error, InvalidSQL)):
        return "refused"
    if isinstance(error, DrafterDeclined):
        return "declined"
    return "failed"


def _redacted(catalog: Catalog | None, record: AuditRecord) -> AuditRecord:
    """``record`` redacted against ``catalog`` (imported here: sqlglot and the detectors
    load only when a record is written or an old line listed, not for every listing); on a
    server database, with the redacted SQL in the server's dialect beside it."""
    from nl2sql.governance.audit_redact import Redactor

    redacted = Redactor.for_catalog(catalog).record(record)
    return _with_server_sql(redacted)


def _with_server_sql(record: AuditRecord) -> AuditRecord:
    """Built from the redacted ``sql``, so it can hold nothing that ``sql`` does not."""
    from nl2sql.schema.source import SERVER_KINDS

    if record.source_kind not in SERVER_KINDS or not record.sql:
        return record
    from nl2sql.errors import NL2SQLError
    from nl2sql.safety.server_engine import transpile

    try:
        return replace(record, server_sql=transpile(record.sql, record.source_kind))
    except NL2SQLError:
        return record


def answer_record(answer: Answer, *, user: str, role: str | None, source_kind: str | None,
                  command: str, catalog: Catalog | None = None) -> AuditRecord:
    """The record of an answered query (pure: builds the record, writes nothing), redacted
    against ``catalog`` (without one, every column counts as personal)."""
    return _redacted(catalog, AuditRecord(
        time=now_iso(), user=user, role=role, database=answer.database,
        source_kind=source_kind, command=command, question=answer.question, sql=answer.sql,
        drafter=answer.drafter, attempts=[_attempt(a) for a in answer.attempts],
        decision="accepted", tables=list(answer.tables_read),
        columns=list(answer.columns_read), rows=answer.row_count,
        masking=[Masked(m.column, m.source, m.mode) for m in answer.masking],
        elapsed_ms=round(answer.elapsed_ms, 2)))


def failure_record(question_or_sql: str, error: NL2SQLError, *, is_sql: bool, user: str,
                   role: str | None, database: str, source_kind: str | None, command: str,
                   drafter: str | None, elapsed_ms: float,
                   catalog: Catalog | None = None) -> AuditRecord:
    """The record of a query that was refused, declined or failed (pure), redacted against
    ``catalog``, with the columns the query touched when the catalog resolves them."""
    attempts = [_attempt(a) for a in error.details.get("attempts", [])]
    last_sql = attempts[-1].sql if attempts else None
    rule = error.details.get("rule")
    return _redacted(catalog, AuditRecord(
        time=now_iso(), user=user, role=role, database=database, source_kind=source_kind,
        command=command, question=None if is_sql else question_or_sql,
        sql=last_sql or (question_or_sql if is_sql else None),
        drafter=attempts[-1].drafter if attempts else drafter, attempts=attempts,
        decision=decision_for(error), reason=error.message,
        rule=rule if isinstance(rule, str) else None, elapsed_ms=round(elapsed_ms, 2),
        error=RecordError(kind=error.kind, message=error.message)))


def record_answer(path: Path, answer: Answer, *, user: str, role: str | None = None,
                  source_kind: str | None = None, command: str,
                  catalog: Catalog | None = None) -> AuditRecord:
    """Build and append the record of an answered query; returns the record."""
    record = answer_record(answer, user=user, role=role, source_kind=source_kind,
                           command=command, catalog=catalog)
    append(path, record)
    return record


def record_failure(path: Path, question_or_sql: str, error: NL2SQLError, *, is_sql: bool,
                   user: str, role: str | None = None, database: str,
                   source_kind: str | None = None, command: str, drafter: str | None = None,
                   elapsed_ms: float = 0.0, catalog: Catalog | None = None) -> AuditRecord:
    """Build and append the record of a failed query; returns the record."""
    record = failure_record(question_or_sql, error, is_sql=is_sql, user=user, role=role,
                            database=database, source_kind=source_kind, command=command,
                            drafter=drafter, elapsed_ms=elapsed_ms, catalog=catalog)
    append(path, record)
    return record


def record_role_refusal(path: Path, role: str, error: NL2SQLError, *, user: str,
                        database: str, source_kind: str | None, command: str) -> AuditRecord:
    """Append the record of a role this user may not take (``--role``, ``\\role``)."""
    return record_failure(path, f"role {role}", error, is_sql=False, user=user, role=role,
                          database=database, source_kind=source_kind, command=command)


def extract_record(summary: dict[str, Any], *, user: str, role: str | None, database: str,
                   source_kind: str | None, sql: str | None, tables: list[str],
                   columns: list[str], elapsed_ms: float,
                   error: NL2SQLError | None = None,
                   catalog: Catalog | None = None, command: str = "extract",
                   question: str | None = None) -> AuditRecord:
    """The record of an ``nl2sql extract`` run: what text it read (the guarded selection),
    which model saw it, and the run's summary under ``extract`` (pure; redacted against
    ``catalog``). ``themes`` and ``search`` runs are recorded the same way, under their
    own ``command`` and ``question`` (a search's text is prose: its values are masked)."""
    model = summary.get("model")
    rule = None if error is None else error.details.get("rule")
    return _redacted(catalog, AuditRecord(
        time=now_iso(), user=user, role=role, database=database, source_kind=source_kind,
        command=command,
        question=question if question is not None else (
            f"extract {summary.get('source')} into {summary.get('table')} "
            f"(spec {summary.get('spec')})"),
        sql=sql, drafter=None if model is None else (
            "detectors" if model == "detectors" else f"model:{model}"),
        decision="accepted" if error is None else decision_for(error),
        reason=None if error is None else error.message,
        rule=rule if isinstance(rule, str) else None,
        tables=list(tables), columns=list(columns), rows=summary.get("written"),
        elapsed_ms=round(elapsed_ms, 2),
        error=None if error is None else RecordError(kind=error.kind, message=error.message),
        extract=summary))


@dataclass(frozen=True)
class Auditor:
    """Who is querying what, and where their records go (one per CLI run or shell)."""

    path: Path
    user: str
    database: str
    source_kind: str | None
    command: str
    role: str | None = None
    #: the session's catalog, against which records are redacted (None: every column
    #: counts as personal)
    catalog: Catalog | None = None

    def run(self, text: str, query: Callable[[], Answer], *, is_sql: bool,
            drafter: str | None = None) -> Answer:
        """Run ``query`` and append its record, answered or not (errors are re-raised)."""
        started = time.perf_counter()
        try:
            answer = query()
        except (NL2SQLError, KeyboardInterrupt) as exc:
            error = exc if isinstance(exc, NL2SQLError) else Interrupted("interrupted")
            record_failure(self.path, text, error, is_sql=is_sql, user=self.user,
                           role=self.role, database=self.database,
                           source_kind=self.source_kind, command=self.command, drafter=drafter,
                           elapsed_ms=(time.perf_counter() - started) * 1000,
                           catalog=self.catalog)
            raise
        record_answer(self.path, answer, user=self.user, role=self.role,
                      source_kind=self.source_kind, command=self.command, catalog=self.catalog)
        return answer


# --- writing ------------------------------------------------------------------------------


def _open_log(path: Path) -> int:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # O_RDWR rather than O_WRONLY: the writer reads the last byte to detect a torn line.
    return os.open(path, os.O_APPEND | os.O_CREAT | os.O_RDWR, 0o600)


def prepare(path: Path) -> None:
    """Create the log (and its 0700 folder) if needed; ConfigError when it cannot be opened."""
    try:
        os.close(_open_log(path))
    except OSError as exc:
        raise ConfigError(f"cannot open the audit log {path}: {exc.strerror or exc} "
                          "(set NL2SQL_AUDIT_LOG to a writable file)") from exc


def encode(record: AuditRecord) -> bytes:
    """One record as one UTF-8 JSON line (non-JSON values become text)."""
    return (json.dumps(record.to_json(), ensure_ascii=False, default=str) + "\n").encode("utf-8")


def _ends_torn(fd: int) -> bool:
    """True when the file does not end with a newline (a crash left a torn line)."""
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def append(path: Path, record: AuditRecord) -> bool:
    """Append ``record`` as one line: locked, one write, fsync. Never raises on I/O errors.

    Returns True when written; False when an ``OSError`` was swallowed (counted in STATS).
    A record no redactor has seen (``redacted`` None) is redacted with every column counted
    as personal: nothing reaches the log unredacted, whoever built the record.
    """
    data = encode(shown(record))
    try:
        fd = _open_log(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _ends_torn(fd):
                data = b"\n" + data  # never glue a record onto a crashed writer's fragment
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock
    except OSError as exc:
        STATS.dropped += 1
        STATS.last_error = f"{path}: {exc.strerror or exc}"
        return False
    STATS.written += 1
    return True


# --- reading ------------------------------------------------------------------------------


_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``2026-01-01``, an ISO timestamp, or ``30m`` / ``1h`` / ``7d`` / ``2w`` ago (UTC).

    >>> parse_since("2h", datetime(2026, 1, 1, 12, tzinfo=UTC)).isoformat()
    '2026-01-01T10:00:00+00:00'
    >>> parse_since("2026-01-01").isoformat()
    '2026-01-01T00:00:00+00:00'
    """
    match = _RELATIVE.match(text)
    if match:
        delta = timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})
        return (now or datetime.now(UTC)) - delta
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--since takes a date (2026-01-01), a timestamp or an age such as "
                          f"30m, 1h, 7d; not {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _record_time(record: AuditRecord) -> datetime | None:
    try:
        moment = datetime.fromisoformat(record.time)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _matches(record: AuditRecord, since: datetime | None, user: str | None) -> bool:
    if user is not None and record.user != user:
        return False
    if since is not None:
        moment = _record_time(record)
        return moment is not None and moment >= since
    return True


def narrow(records: Iterable[AuditRecord], *, role: str | None = None,
           command: str | None = None, decision: str | None = None,
           column: str | None = None) -> list[AuditRecord]:
    """The records matching every filter given: ``column`` ("customers.phone", or a table
    name for any of its columns) answers "who read this?".

    >>> read_phone = AuditRecord(time="", user="ann", command="sql", role="analyst",
    ...                          columns=["customers.phone"])
    >>> narrow([read_phone], column="customers") == [read_phone]
    True
    >>> narrow([read_phone], role="steward")
    []
    """
    return [r for r in records
            if (role is None or r.role == role)
            and (command is None or r.command == command)
            and (decision is None or r.decision == decision)
            and (column is None or r.reads(column))]


class Records(Iterator[AuditRecord]):
    """The records of a log, oldest first; ``skipped`` counts unreadable lines (torn by a
    crash, not JSON objects, or fields of the wrong shape)."""

    def __init__(self, lines: Iterable[bytes], since: datetime | None = None,
                 user: str | None = None) -> None:
        self.skipped = 0
        self._items = self._parse(lines, since, user)

    def _parse(self, lines: Iterable[bytes], since: datetime | None,
               user: str | None) -> Iterator[AuditRecord]:
        for line in lines:
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
                record = AuditRecord.from_json(data)
            except (ValueError, TypeError, UnicodeDecodeError):
                self.skipped += 1
                continue
            if _matches(record, since, user):
                yield record

    def __iter__(self) -> Records:
        return self

    def __next__(self) -> AuditRecord:
        return next(self._items)


def _lines(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as fh:
            yield from fh
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"cannot read the audit log {path}: {exc.strerror or exc}") from exc


def read(path: Path, since: datetime | None = None, user: str | None = None) -> Records:
    """The records of the log at ``path`` (none when it does not exist yet).

    A torn line (a writer killed mid-write) is skipped and counted in ``.skipped``.
    """
    return Records(_lines(path), since, user)


# --- showing ------------------------------------------------------------------------------


def shown(record: AuditRecord) -> AuditRecord:
    """``record`` as any listing shows it: a line written before redaction (or by another
    writer) is redacted with every column counted as personal; a redacted one is shown as
    written, to every role alike (the steward included: the log keeps no values)."""
    return record if record.redacted is not None else _redacted(None, record)


def list_row(record: AuditRecord) -> list[Any]:
    """One record as the values of :data:`LIST_COLUMNS`, unformatted (how a listing is
    printed, cut or rounded is the interface's business)."""
    return [record.time, record.user, record.role or "", record.command,
            record.decision or "", record.question or record.sql or "", record.rows,
            " ".join(record.masked_sources), record.elapsed_ms]
