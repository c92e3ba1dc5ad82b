"""Plain values passed between pipeline stages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reading:
    """One way to read an ambiguous question, offered when the offline drafter declines
    to choose between two or more (``error.readings`` in ``--format json``).

    Built under the session's role (its catalog): the SQL names only what the role may
    see and holds no values beyond those in the question; it is not run until chosen,
    and then goes through the guard and the access policy like any other draft."""

    understood: str  # the plain-language interpretation of this reading
    sql: str
    choice: str = ""  # what this reading settles: "unit price read as products.unit_price"
    assumptions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"understood": self.understood, "sql": self.sql, "choice": self.choice,
                "assumptions": list(self.assumptions)}


HIGH, MEDIUM = "high", "medium"


def confidence_of(assumptions: list[str]) -> str:
    """The offline drafter's confidence: ``high`` when it assumed nothing the question did
    not say, ``medium`` when it took a default (each listed in the answer's assumptions).
    Questions it cannot read with confidence it declines; there is no ``low``.

    >>> confidence_of([]), confidence_of(["time column orders.order_date"])
    ('high', 'medium')
    """
    return MEDIUM if assumptions else HIGH


@dataclass
class Draft:
    """A candidate SQL query and who wrote it."""

    sql: str
    drafter: str  # "offline" or "model:<name>"
    interpretation: str | None = None
    # The offline drafter rates its drafts (confidence_of); None: the drafter does not
    # (a model, hand-written SQL).
    confidence: str | None = None
    assumptions: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    elapsed_ms: float = 0.0
    reply: str | None = None  # the model's raw reply, kept for the audit trail


@dataclass(frozen=True)
class MaskedSource:
    """The guard's masking report, one entry: an output column derives from a masked source.

    ``position`` is the output column's index, or None when the masked column is reached
    without being named (a whole-row reference, ``COLUMNS(*)``), so its place is only known
    once the query runs.
    """

    position: int | None
    source: str  # "table.column"
    mode: str  # "partial" | "hash" | "redact"


@dataclass(frozen=True)
class MaskedColumn:
    """The answer's masking report, one entry: an output column by name and its masked source.

    Serialised as ``{"column", "source", "mode"}`` in ``--format json`` and the audit log.
    """

    column: str  # the output column's name; "*" when its position is unknown
    source: str  # "table.column"
    mode: str  # "partial" | "hash" | "redact"

    def to_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class GuardedQuery:
    """A query the guard accepted, regenerated from the checked AST."""

    sql: str
    original: str
    tables: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # "table.column" read
    limit: int | None = None
    limited: bool = False  # True when the guard added or lowered the LIMIT
    notes: list[str] = field(default_factory=list)
    # With an access policy: the SQL that really runs (restricted tables read through their
    # secure views; never shown, it may hold the mask key), and per output column
    # position the masked source columns it derives from.
    executed_sql: str | None = None
    explain_sql: str | None = None  # executed_sql with the mask key blanked (for EXPLAIN)
    masking: list[MaskedSource] = field(default_factory=list)
    # Builds explain_sql when first asked (shown_sql): regenerating a wide query's SQL a
    # second time, only for an EXPLAIN that is rarely run, was a tenth of its check.
    explain_builder: Callable[[], str] | None = field(default=None, repr=False, compare=False)

    def shown_sql(self) -> str:
        """The SQL that runs as people may see it: with the mask key blanked."""
        if self.explain_sql is None and self.explain_builder is not None:
            self.explain_sql = self.explain_builder()
            self.explain_builder = None
        return self.explain_sql or self.executed_sql or self.sql


@dataclass
class Result:
    """Rows from the engine."""

    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    elapsed_ms: float = 0.0
    truncated: bool = False


@dataclass
class Attempt:
    """One draft and what became of it (kept on the answer, in order)."""

    sql: str
    drafter: str
    ok: bool
    stage: str | None = None  # "guard" | "execute" when it failed
    error: dict[str, Any] | None = None


@dataclass
class Answer:
    """What the user gets: rows plus everything needed to trust them."""

    question: str | None
    sql: str
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    drafter: str
    attempts: list[Attempt] = field(default_factory=list)
    interpretation: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)
    elapsed_ms: float = 0.0
    truncated: bool = False
    notes: list[str] = field(default_factory=list)
    database: str = ""
    tables_read: list[str] = field(default_factory=list)  # from the guard, for the audit log
    columns_read: list[str] = field(default_factory=list)  # "table.column", from the guard
    role: str | None = None  # the access-policy role the query ran under
    masking: list[MaskedColumn] = field(default_factory=list)  # output columns masked
    confidence: str | None = None  # the draft's: "high" | "medium"; None when not rated
    assumptions: list[str] = field(default_factory=list)  # what the drafter assumed

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def to_json(self) -> dict[str, Any]:
        """The stable ``--format json`` object."""
        data = asdict(self)
        data["rows"] = [list(r) for r in self.rows]
        data["row_count"] = self.row_count
        data["tokens"] = {"prompt": self.prompt_tokens, "completion": self.completion_tokens}
        del data["prompt_tokens"], data["completion_tokens"]
        return data
