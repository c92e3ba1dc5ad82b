"""The audit record: one typed value per query, and its JSON line (schema ``v: 1``).

The JSON line is a file format other tools read (SIEM shippers, ``jq`` scripts), so
:meth:`AuditRecord.to_json` writes exactly the keys, order and shapes documented in
:mod:`nl2sql.governance.audit`, and :meth:`AuditRecord.from_json` reads any line an
earlier version wrote: keys it lacks take their "nothing recorded" value, keys it does
not know are kept in ``extra`` and written back out, so reading and re-writing a record
never loses what another writer put there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

VERSION = 1

#: The keys every record holds, in the order they are written; then ``redacted`` (on every
#: record this version writes, absent from an earlier version's), ``server_sql`` (only on a
#: server database's records) and ``extract`` last (only on ``nl2sql extract`` records).
KEYS = ("v", "time", "user", "role", "database", "source_kind", "command", "question", "sql",
        "drafter", "attempts", "decision", "reason", "rule", "tables", "columns", "rows",
        "masking", "elapsed_ms", "error")


def _text(value: Any) -> str | None:
    """A text field as text, ``None`` kept (a number where text belongs becomes text)."""
    return None if value is None else str(value)


def _texts(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"expected a list, not {type(value).__name__}")
    return [str(v) for v in value]


def _mapping(value: Any, what: str) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"{what}: expected an object, not {type(value).__name__}")
    return value


@dataclass(frozen=True)
class AttemptError:
    """Why one attempt failed: the error kind, the guard rule (if any), the message."""

    kind: str | None
    rule: str | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "rule": self.rule, "message": self.message}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AttemptError:
        return cls(kind=_text(data.get("kind")), rule=_text(data.get("rule")),
                   message=_text(data.get("message")))


@dataclass(frozen=True)
class AuditAttempt:
    """One draft tried for the query and what became of it."""

    sql: str | None
    drafter: str | None
    ok: bool
    stage: str | None = None  # "guard" | "execute" when it failed
    error: AttemptError | None = None

    def to_json(self) -> dict[str, Any]:
        return {"sql": self.sql, "drafter": self.drafter, "ok": self.ok, "stage": self.stage,
                "error": None if self.error is None else self.error.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditAttempt:
        error = _mapping(data.get("error"), "attempts.error")
        return cls(sql=_text(data.get("sql")), drafter=_text(data.get("drafter")),
                   ok=bool(data.get("ok")), stage=_text(data.get("stage")),
                   error=AttemptError.from_json(error) if error else None)


@dataclass(frozen=True)
class Masked:
    """One output column that was masked: its name, the ``table.column`` it derives from
    (``table.*`` when read through a whole row) and the mask mode."""

    column: str | None
    source: str | None
    mode: str | None

    def to_json(self) -> dict[str, Any]:
        return {"column": self.column, "source": self.source, "mode": self.mode}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Masked:
        return cls(column=_text(data.get("column")), source=_text(data.get("source")),
                   mode=_text(data.get("mode")))


@dataclass(frozen=True)
class RecordError:
    """The error that ended a query that was not accepted."""

    kind: str | None
    message: str | None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RecordError:
        return cls(kind=_text(data.get("kind")), message=_text(data.get("message")))


@dataclass
class AuditRecord:
    """One line of the audit log (see :mod:`nl2sql.governance.audit` for the schema).

    >>> line = {"v": 1, "time": "2026-01-01T09:30:00.000+00:00", "user": "ann",
    ...         "command": "sql", "sql": "SELECT 1", "decision": "accepted", "rows": 1}
    >>> record = AuditRecord.from_json(line)
    >>> record.rows, record.attempts, record.error
    (1, [], None)
    >>> list(record.to_json()) == list(KEYS)
    True
    """

    time: str
    user: str
    command: str
    database: str = ""
    role: str | None = None
    source_kind: str | None = None
    question: str | None = None
    sql: str | None = None
    drafter: str | None = None
    attempts: list[AuditAttempt] = field(default_factory=list)
    decision: str | None = None  # accepted | refused | declined | failed
    reason: str | None = None
    rule: str | None = None
    tables: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # "table.column" read
    rows: int | None = None
    masking: list[Masked] = field(default_factory=list)
    elapsed_ms: float | None = None
    error: RecordError | None = None
    # ``nl2sql extract`` only: the run's summary as the extract layer reports it (its own
    # versioned shape, which governance passes through rather than redefines).
    extract: dict[str, Any] | None = None
    #: A server database's records: ``sql`` as the server's dialect writes it (transpiled
    #: from the recorded, redacted ``sql``; the DuckDB form stays in ``sql``).
    server_sql: str | None = None
    #: ``table.column``s whose compared literals were replaced by ``'[redacted]'`` (``*``:
    #: a column that could not be resolved); None on a line written before redaction.
    redacted: list[str] | None = None
    v: int = VERSION
    #: Keys this version does not know (a newer or foreign writer's), written back as read.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def masked_sources(self) -> list[str]:
        """The ``table.column``s whose values this query returned masked, sorted."""
        return sorted({str(m.source) for m in self.masking})

    def reads(self, column: str) -> bool:
        """Whether the query read ``column`` (``table.column``, or any column of a table)."""
        wanted = column.lower()
        read = [c.lower() for c in self.columns]
        return wanted in read or any(c.split(".")[0] == wanted for c in read)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the log line: the documented keys, in order."""
        data: dict[str, Any] = {
            "v": self.v, "time": self.time, "user": self.user, "role": self.role,
            "database": self.database, "source_kind": self.source_kind,
            "command": self.command, "question": self.question, "sql": self.sql,
            "drafter": self.drafter, "attempts": [a.to_json() for a in self.attempts],
            "decision": self.decision, "reason": self.reason, "rule": self.rule,
            "tables": list(self.tables), "columns": list(self.columns), "rows": self.rows,
            "masking": [m.to_json() for m in self.masking], "elapsed_ms": self.elapsed_ms,
            "error": None if self.error is None else self.error.to_json(),
        }
        if self.redacted is not None:
            data["redacted"] = list(self.redacted)
        if self.server_sql is not None:
            data["server_sql"] = self.server_sql
        if self.extract is not None:
            data["extract"] = self.extract
        for key, value in self.extra.items():
            data.setdefault(key, value)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditRecord:
        """A record from a log line's object; ``ValueError`` when a field has the wrong shape
        (the reader counts such a line as unreadable, like a torn one)."""
        attempts = data.get("attempts") or []
        masking = data.get("masking") or []
        if not isinstance(attempts, list) or not isinstance(masking, list):
            raise ValueError("attempts and masking must be lists")
        error = _mapping(data.get("error"), "error")
        extract = _mapping(data.get("extract"), "extract")
        redacted = data.get("redacted")
        rows, elapsed, version = data.get("rows"), data.get("elapsed_ms"), data.get("v", VERSION)
        return cls(
            v=int(version), time=str(data.get("time") or ""), user=str(data.get("user") or ""),
            role=_text(data.get("role")), database=str(data.get("database") or ""),
            source_kind=_text(data.get("source_kind")), command=str(data.get("command") or ""),
            question=_text(data.get("question")), sql=_text(data.get("sql")),
            drafter=_text(data.get("drafter")),
            attempts=[AuditAttempt.from_json(_mapping(a, "attempts") or {}) for a in attempts],
            decision=_text(data.get("decision")), reason=_text(data.get("reason")),
            rule=_text(data.get("rule")), tables=_texts(data.get("tables")),
            columns=_texts(data.get("columns")), rows=None if rows is None else int(rows),
            masking=[Masked.from_json(_mapping(m, "masking") or {}) for m in masking],
            elapsed_ms=None if elapsed is None else float(elapsed),
            error=RecordError.from_json(error) if error else None,
            extract=None if extract is None else dict(extract),
            redacted=None if redacted is None else _texts(redacted),
            server_sql=_text(data.get("server_sql")),
            extra={k: v for k, v in data.items()
                   if k not in KEYS and k not in ("extract", "redacted", "server_sql")},
        )
