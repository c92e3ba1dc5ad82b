"""What the offline drafter understood: a small, typed description of the query.

The parser fills an :class:`Intent`; the composer turns it into SQL; its
:meth:`Intent.explain` is the plain-language interpretation shown to people, and its
``assumptions`` what the drafter chose when the question did not say (a default date
column, a join path), shown beside it.

A parser step that finds two readings of a word that both make sense, and nothing in the
question to choose between them, raises :class:`Ambiguous` with a :class:`Choice` per
reading; the drafter reads the question again once per choice, settled in
:class:`Choices`, and offers the readings that survive (:mod:`.readings`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ColumnRef:
    table: str
    column: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column}"


@dataclass
class Measure:
    """An aggregate: ``count`` (rows), ``count_distinct``, ``sum``/``avg``/``min``/``max`` of a
    column, or a business ``term`` whose SQL comes from the semantic layer."""

    func: str
    table: str
    column: ColumnRef | None = None
    term_sql: str | None = None
    label: str = ""

    def describe(self) -> str:
        if self.func == "count":
            return f"count of {self.table}"
        if self.func == "term":
            return f"{self.label} ({self.term_sql})"
        func = {"count_distinct": "number of distinct", "avg": "average"}.get(self.func, self.func)
        return f"{func} {self.column}"


@dataclass
class Filter:
    """``column op values``; ops: = in > >= < <= is_null not_null year month quarter
    years after before."""

    column: ColumnRef
    op: str
    values: list[object] = field(default_factory=list)
    implicit: bool = False  # a date filter on the default date column (none was named)
    # "students who do not have a cat": no related row matches (NOT EXISTS), which is not
    # the same as having a related row that does not match
    absent: bool = False

    def describe(self) -> str:
        vals = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in self.values)
        if self.op == "no_related":
            return f"{self.column.table} with no {self.values[0]}"
        if self.op == "related_count":
            table, _fk, op, n = self.values[:4]
            extra: list[Filter] = list(self.values[4]) if len(self.values) > 4 else []  # type: ignore[call-overload]
            when = f" ({' and '.join(f.describe() for f in extra)})" if extra else ""
            return f"{self.column.table} with {op} {n} {table}{when}"
        words = {"is_null": "is empty", "not_null": "is set", "in": f"in ({vals})",
                 "year": f"in year {vals}", "month": f"in month {vals}",
                 "quarter": f"in quarter {vals}", "years": f"in years {vals}",
                 "after": f"after year {vals}", "before": f"before year {vals}",
                 "half": f"in half-year {vals}", "day": f"on day {vals}",
                 "between": f"between {vals.replace(', ', ' and ')}"}
        if self.absent:
            return f"no {self.column.table} with {self.column} {words.get(self.op, f'{self.op} {vals}')}"
        return f"{self.column} {words.get(self.op, f'{self.op} {vals}')}"


@dataclass
class Group:
    """A grouping key: a column, or a time bucket (year/month/quarter) of a date column."""

    column: ColumnRef
    bucket: str | None = None
    extra: list[ColumnRef] = field(default_factory=list)  # e.g. the name next to an id

    def describe(self) -> str:
        return f"{self.bucket} of {self.column}" if self.bucket else str(self.column)


@dataclass
class Intent:
    base: str
    measure: Measure | None = None
    groups: list[Group] = field(default_factory=list)
    filters: list[Filter] = field(default_factory=list)
    having: list[tuple[str, float]] = field(default_factory=list)
    # further HAVING conditions on a count: ("count", table, op, number)
    extra_having: list[tuple[str, str, str, float]] = field(default_factory=list)
    order: str | None = None  # "desc" | "asc"
    order_column: ColumnRef | None = None
    limit: int | None = None
    percent_of: list[Filter] = field(default_factory=list)
    show: list[ColumnRef] = field(default_factory=list)
    # the columns the question asked to see ("the name and hire date of ..."): a listing
    # shows these and the row's key, not every column of the table
    named: list[ColumnRef] = field(default_factory=list)
    distinct: bool = False  # a listing of the distinct values of ``show``
    # what was assumed where the question did not say, e.g. "time column orders.order_date"
    assumptions: list[str] = field(default_factory=list)

    def explain(self) -> str:
        """Plain-language interpretation, e.g. "count of orders where status = 'cancelled',
        grouped by customers.city"."""
        if self.percent_of:
            head = (f"percentage of {self.base} where "
                    + " and ".join(f.describe() for f in self.percent_of))
        elif self.measure:
            head = self.measure.describe()
        elif self.distinct:
            head = "distinct " + ", ".join(map(str, self.show))
        else:
            head = f"{self.base} rows"
        parts = [head]
        if self.filters:
            parts.append("where " + " and ".join(f.describe() for f in self.filters))
        if self.groups:
            parts.append("grouped by " + ", ".join(g.describe() for g in self.groups))
        if self.having or self.extra_having:
            conditions = [f"{self.measure.describe() if self.measure else 'count'} {op} {n:g}"
                          for op, n in self.having]
            conditions += [f"count of {table} {op} {n:g}" for _, table, op, n in self.extra_having]
            parts.append("keeping groups with " + " and ".join(conditions))
        if self.order:
            what = str(self.order_column) if self.order_column else (
                self.measure.label if self.measure else "percentage")
            word = "highest" if self.order == "desc" else "lowest"
            tied = self.limit == 1 and self.groups and self.measure and not self.order_column
            parts.append(f"ordered by {what}, {word} first"
                         + (", the first (all tied for first)" if tied else
                            f", first {self.limit}" if self.limit else ""))
        return ", ".join(parts)


@dataclass(frozen=True)
class Choice:
    """One way to settle a choice point: at ``point``, read the word as ``column``."""

    point: str  # where in the question, e.g. "measure@14"
    column: ColumnRef
    describe: str  # "unit price read as products.unit_price"


class Ambiguous(Exception):  # noqa: N818 - internal to the drafter, never leaves draft()
    """Two or more readings of one word survive and the question gives no way to choose.

    Internal to the offline drafter: :func:`nl2sql.drafting.offline.draft` catches it,
    reads the question once per choice and declines with the readings (a
    :class:`~nl2sql.errors.DrafterDeclined` carrying them)."""

    def __init__(self, point: str, choices: list[Choice]) -> None:
        super().__init__(f"{point}: " + " or ".join(c.describe for c in choices))
        self.point = point
        self.choices = choices


@dataclass
class Choices:
    """What one reading of a question settled beforehand and assumed along the way.

    ``settled``: choice points decided before reading (one per :class:`Ambiguous` met on
    an earlier pass); ``assumed``: defaults taken by steps that run before the
    :class:`Intent` exists (a column among same-named ones), moved into
    ``Intent.assumptions`` at the end."""

    settled: dict[str, Choice] = field(default_factory=dict)
    assumed: list[str] = field(default_factory=list)

    def assume(self, text: str) -> None:
        if text not in self.assumed:
            self.assumed.append(text)
