"""Typed description of a database: what introspection finds and the semantic layer adds.

A :class:`Catalog` is the plain value every later stage reads: the prompt
builder, the drafters, the guard (names must resolve here) and the renderer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# The tags nl2sql itself reads (``Column.tags`` / ``Table.tags``). Tags stay a free
# mapping, because the semantic layer's ``tags:`` accepts anything and the on-disk catalog
# cache stores them as written; the accessors below are the typed way to read these.
PII_TAG = "pii"  # column: the kind of personal data it holds ("phone"), or true
MENTIONS_TAG = "pii_mentions"  # column: kinds mentioned inside its free text
MASK_TAG = "mask"  # column: none | partial | hash | redact (base policy)
REDACT_TEXT_TAG = "redact_text"  # column: kinds replaced by [kind] inside its text (base policy)
DENY_TAG = "deny"  # column or table: hidden from the base policy
ROW_FILTER_TAG = "row_filter"  # table: an SQL condition its rows must meet
EXTRACTED_TAG = "extracted"  # table: written by ``nl2sql extract`` (see Extraction)


@dataclass(frozen=True)
class Extraction:
    """Where an extracted table's values came from (its ``extracted`` tag)."""

    source_table: str
    source_column: str
    key: str
    spec: str | None = None
    model: str | None = None

    @classmethod
    def from_tag(cls, value: Any) -> Extraction | None:
        """The tag's mapping as a value; None when it is absent or not a mapping."""
        if not isinstance(value, Mapping):
            return None
        spec, model = value.get("spec"), value.get("model")
        return cls(source_table=str(value.get("source_table")),
                   source_column=str(value.get("source_column")), key=str(value.get("key")),
                   spec=None if spec is None else str(spec),
                   model=None if model is None else str(model))


@dataclass
class Profile:
    """A cheap per-column profile; ``top_values`` only for low-cardinality text.

    ``distinct`` is an exact count when ``distinct_exact``, else an estimate (big tables:
    see :mod:`nl2sql.schema.profiling`); people see ``≈`` before it.
    """

    distinct: int = 0
    distinct_exact: bool = True
    null_share: float = 0.0
    min: str | None = None
    max: str | None = None
    top_values: list[tuple[str, int]] = field(default_factory=list)
    # Every value of a naming column (artist names, album titles), for matching questions
    # against; never sent to a model.
    labels: list[str] = field(default_factory=list)


@dataclass
class Column:
    name: str
    type: str
    nullable: bool = True
    comment: str | None = None
    primary_key: bool = False
    profile: Profile | None = None
    # A partition column (Spark): a filter on it reads only the matching files.
    partition: bool = False
    # Semantic layer (schemas/*.yaml):
    description: str | None = None
    synonyms: list[str] = field(default_factory=list)
    values: dict[str, list[str]] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)

    @property
    def about(self) -> str | None:
        """The best human description: the semantic layer's, else the DB comment."""
        return self.description or self.comment

    @property
    def pii_kind(self) -> str | None:
        """The kind of personal data the column holds (``pii: phone``); ``"personal data"``
        for a bare ``pii: true``; None when untagged.

        >>> Column("c", "VARCHAR", tags={"pii": "phone"}).pii_kind, Column("c", "INT").pii_kind
        ('phone', None)
        >>> Column("c", "VARCHAR", tags={"pii": True}).pii_kind
        'personal data'
        """
        kind = self.tags.get(PII_TAG)
        if not kind:
            return None
        return "personal data" if kind is True else str(kind)

    @property
    def pii_mentions(self) -> list[str]:
        """Kinds of personal data mentioned inside the column's free text (one kind or a list
        in the YAML).

        >>> Column("c", "TEXT", tags={"pii_mentions": "phone"}).pii_mentions
        ['phone']
        """
        value = self.tags.get(MENTIONS_TAG) or []
        return [str(v) for v in (value if isinstance(value, list) else [value])]

    @property
    def holds_personal_data(self) -> bool:
        """Tagged as personal data, or as free text that mentions some."""
        return bool(self.pii_kind or self.pii_mentions)

    @property
    def mask_mode(self) -> str:
        """The base policy's mask: ``none``, ``partial``, ``hash`` or ``redact``."""
        return str(self.tags.get(MASK_TAG, "none"))

    @property
    def redact_kinds(self) -> tuple[str, ...]:
        """Kinds of personal data the base policy replaces inside the column's text
        (``redact_text``; the semantic layer stores the list, ``all`` spelled out).

        >>> Column("c", "TEXT", tags={"redact_text": ["phone", "email"]}).redact_kinds
        ('phone', 'email')
        """
        value = self.tags.get(REDACT_TEXT_TAG) or []
        return tuple(str(v) for v in (value if isinstance(value, list) else [value]))

    @property
    def denied(self) -> bool:
        """Hidden by the base policy (``deny: true``)."""
        return bool(self.tags.get(DENY_TAG, False))


@dataclass
class ForeignKey:
    columns: list[str]
    ref_table: str
    ref_columns: list[str]


@dataclass
class Table:
    name: str
    columns: list[Column]
    kind: str = "table"  # "table" | "view"
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    comment: str | None = None
    row_count: int | None = None
    description: str | None = None
    synonyms: list[str] = field(default_factory=list)
    tags: dict[str, Any] = field(default_factory=dict)
    definition: str | None = None  # a view's SQL (the access policy follows it to its tables)

    @property
    def about(self) -> str | None:
        return self.description or self.comment

    @property
    def denied(self) -> bool:
        """Hidden by the base policy (``deny: true``)."""
        return bool(self.tags.get(DENY_TAG, False))

    @property
    def row_filter(self) -> str | None:
        """The base policy's row condition, None when the table has none."""
        value = self.tags.get(ROW_FILTER_TAG)
        return None if value in (None, "") else str(value)

    @property
    def extraction(self) -> Extraction | None:
        """Where ``nl2sql extract`` took this table's values from; None for other tables."""
        return Extraction.from_tag(self.tags.get(EXTRACTED_TAG))

    def column(self, name: str) -> Column | None:
        """Case-insensitive column lookup."""
        wanted = name.lower()
        return next((c for c in self.columns if c.name.lower() == wanted), None)


@dataclass
class Term:
    """A business term: ``sales = sum(orders.total_amount)``."""

    name: str
    sql: str
    synonyms: list[str] = field(default_factory=list)
    description: str | None = None
    # The same measure computed at other grains (e.g. from order lines instead of orders),
    # used when splitting by a finer table would count the primary definition's rows twice.
    alternatives: list[str] = field(default_factory=list)


@dataclass
class Example:
    """A verified question -> SQL pair from the semantic layer."""

    question: str
    sql: str


@dataclass
class Role:
    """Who may see what (``roles:`` in schemas/*.yaml); see :mod:`nl2sql.safety.policy`.

    ``columns`` maps ``table.column`` to overrides of that column's ``mask``/``deny``;
    ``unmask``/``allow`` lift every mask/deny (``["*"]``) or those listed;
    ``row_filters`` maps a table to a condition its rows must meet (``None`` lifts the
    table's own filter); ``users`` limits who may take the role (empty: anyone).
    """

    name: str
    description: str | None = None
    default: bool = False
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    unmask: list[str] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)
    deny_tables: list[str] = field(default_factory=list)
    row_filters: dict[str, str | None] = field(default_factory=dict)
    users: list[str] = field(default_factory=list)


@dataclass
class Catalog:
    """Everything known about one database.

    >>> cat = Catalog(name="shop", tables={})
    >>> cat.table("orders") is None
    True
    """

    name: str
    tables: dict[str, Table]
    source: str = ""
    dialect: str = "duckdb"  # the dialect the source database speaks natively
    description: str | None = None
    terms: list[Term] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    fingerprint: str = ""
    semantic_files: list[str] = field(default_factory=list)
    roles: dict[str, Role] = field(default_factory=dict)
    # What a reader of any answer about this database must know of its policy: which file
    # applied when it was chosen by its tables, or that scanner defaults protect it.
    notes: list[str] = field(default_factory=list)

    def table(self, name: str) -> Table | None:
        """Case-insensitive table lookup."""
        if name in self.tables:
            return self.tables[name]
        wanted = name.lower()
        return next((t for t in self.tables.values() if t.name.lower() == wanted), None)

    def sqlglot_schema(self) -> dict[str, dict[str, str]]:
        """``{table: {column: type}}`` for sqlglot's qualify/lineage machinery."""
        return {t.name: {c.name: c.type for c in t.columns} for t in self.tables.values()}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Catalog:
        """Inverse of :meth:`to_json` (used by the on-disk introspection cache)."""
        tables = {name: _table_from_json(t) for name, t in data["tables"].items()}
        return cls(
            name=data["name"], tables=tables, source=data.get("source", ""),
            dialect=data.get("dialect", "duckdb"), description=data.get("description"),
            terms=[Term(**t) for t in data.get("terms", [])],
            examples=[Example(**e) for e in data.get("examples", [])],
            fingerprint=data.get("fingerprint", ""),
            semantic_files=list(data.get("semantic_files", [])),
            roles={name: Role(**r) for name, r in data.get("roles", {}).items()},
            notes=[str(n) for n in data.get("notes", [])],
        )


def _table_from_json(data: dict[str, Any]) -> Table:
    columns = [_column_from_json(c) for c in data["columns"]]
    fks = [ForeignKey(**fk) for fk in data.get("foreign_keys", [])]
    rest = {k: v for k, v in data.items() if k not in ("columns", "foreign_keys")}
    return Table(columns=columns, foreign_keys=fks, **rest)


def _column_from_json(data: dict[str, Any]) -> Column:
    profile = data.get("profile")
    rest = {k: v for k, v in data.items() if k != "profile"}
    if profile is not None:
        profile = Profile(**{**profile, "top_values": [tuple(v) for v in profile["top_values"]],
                             "labels": list(profile.get("labels", []))})
    return Column(profile=profile, **rest)
