"""Personal-data scanner: which text columns hold phones, e-mails, IDs, cards, addresses...

``scan`` samples every text column (and date columns whose name suggests a birth date)
through an unconfined, read-only connection of our own — fixed SQL written here, never
user SQL — and ``classify_column`` judges each column by its name and its values, with a
share and a confidence. The values themselves are judged by
:mod:`nl2sql.governance.pii_detect`, whose public names are re-exported here
(``pii.detect``, ``pii.find_all``, ``pii.mask``...) for the callers that use both.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nl2sql.catalog import Catalog
from nl2sql.column_types import is_temporal, item_type, kind_of
from nl2sql.errors import ConfigError, ExecutionError
from nl2sql.governance.pii_detect import (  # noqa: F401  (re-exported: the value detectors)
    EMBEDDED_KINDS,
    KINDS,
    NAME_HINTS,
    NAME_ONLY_KINDS,
    NOT_PII_NAMES,
    KindScore,
    Match,
    detect,
    digits_of,
    find_all,
    id_check_digit,
    is_bank_card,
    is_birth_date,
    is_id_shaped,
    is_ipv6,
    is_person_name,
    is_valid_id,
    luhn_ok,
    mask,
    name_kinds,
    parse_date,
    score,
)
from nl2sql.schema.source import Source, connect

DEFAULT_SAMPLE = 1000


@dataclass
class ColumnFinding:
    """What the scanner concluded about one column."""

    table: str
    column: str
    type: str
    kinds: list[str]
    share: float  # share of sampled rows with at least one reported kind
    confidence: str  # high | medium | low
    evidence: str  # name+values | values | name | embedded
    examples: list[str] = field(default_factory=list)  # masked
    kind_shares: dict[str, float] = field(default_factory=dict)
    rows_sampled: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)



# --------------------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------------------


def is_free_text(values: list[str]) -> bool:
    """Prose (reviews, transcripts), judged by the median length of the values."""
    return bool(values) and statistics.median(len(v) for v in values) >= 30


def _confidence(named: bool, share: float, free_text: bool, hits: int) -> str:
    if free_text:
        return "medium" if hits >= 5 else "low"
    if named and share >= 0.8:
        return "high"
    if (named and share >= 0.3) or share >= 0.8:
        return "medium"
    return "low"


def classify_column(name: str, type: str, values: list[str],  # noqa: A002
                    table: str = "") -> ColumnFinding | None:
    """Judge one column from its name, its type and sampled (non-null) values.

    A structured column reports a kind when at least 30% of its values hold it (a
    name that suggests the kind is confidence, not a requirement); prose columns report
    embedded kinds found in at least two rows and 0.2% of the sample. Columns named like
    order numbers, codes or versions never report phones, cards, IDs or IPs from digits
    alone. ``None`` when nothing is found.
    """
    hinted = name_kinds(name)
    denied = bool(NOT_PII_NAMES.search(name.lower())) and not hinted
    free_text = is_free_text(values)
    per_row = [detect(v, column=name) for v in values]
    matches = [find_all(v) for v in values] if free_text else []
    n = len(values)
    counts = {k: sum(1 for kinds in per_row if k in kinds) for k in KINDS}
    floor = max(2, int(n * 0.002)) if free_text else max(1, int(n * 0.3 + 0.999))
    reported = [k for k in KINDS if n and counts[k] >= floor
                and not (denied and k in ("phone", "bank_card", "id_number", "ip_address"))]
    if free_text:
        reported = [k for k in reported if k in EMBEDDED_KINDS]
    if not reported:
        name_only = [k for k in NAME_ONLY_KINDS if k in hinted]
        if not name_only:
            return None
        return ColumnFinding(table=table, column=name, type=type, kinds=name_only, share=0.0,
                             confidence="low", evidence="name", rows_sampled=n,
                             kind_shares={k: 0.0 for k in name_only})
    rows_hit = sum(1 for kinds in per_row if kinds & set(reported))
    share = rows_hit / n
    named = bool(hinted & set(reported))
    examples = _examples(values, per_row, matches, reported, free_text)
    evidence = "embedded" if free_text else ("name+values" if named else "values")
    return ColumnFinding(
        table=table, column=name, type=type, kinds=reported, share=round(share, 4),
        confidence=_confidence(named, share, free_text, rows_hit), evidence=evidence,
        examples=examples, rows_sampled=n,
        kind_shares={k: round(counts[k] / n, 4) for k in reported})


def _examples(values: list[str], per_row: list[set[str]], matches: list[list[Match]],
              reported: list[str], free_text: bool, limit: int = 3) -> list[str]:
    """Up to ``limit`` masked examples, one per kind first (only the found part of prose)."""
    out: list[str] = []
    for kind in reported * limit:
        if len(out) >= limit:
            break
        for i, value in enumerate(values):
            if kind not in per_row[i]:
                continue
            if free_text:
                part = next((m.text for m in matches[i] if m.kind == kind), value)
                masked = mask(kind, part)
            else:
                masked = mask(kind, value)
            if masked not in out:
                out.append(masked)
                break
    return out


# --------------------------------------------------------------------------------------
# Database scan
# --------------------------------------------------------------------------------------


def quote_ident(name: str) -> str:
    """A DuckDB identifier in double quotes (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def sample_sql(table: str, column: str, sample: int) -> str:
    """Our own fixed query: up to ``sample`` non-null values of one column, as text."""
    col, tab = quote_ident(column), quote_ident(table)
    return (f"SELECT v FROM (SELECT CAST({col} AS VARCHAR) AS v FROM {tab} "
            f"WHERE {col} IS NOT NULL) USING SAMPLE reservoir({int(sample)} ROWS) REPEATABLE (7)")


def holds_text(type_name: str) -> bool:
    """Whether values of ``type_name``, read as text, are worth scanning: text, JSON (text
    with structure), lists of those (an extracted ``VARCHAR[]`` of names) and structs or
    maps (they may hold text; cast to VARCHAR they read as ``{'name': 张伟}``).

    >>> [holds_text(t) for t in ("VARCHAR(20)", "JSON", "VARCHAR[]", "INTEGER[]", "DATE")]
    [True, True, True, False, False]
    """
    kind = kind_of(type_name)
    if kind == "list":
        item = item_type(type_name)
        return item is None or holds_text(item)  # LIST(...) spelled out: scan to be safe
    return kind in ("text", "json", "struct")


def wants_column(name: str, type_name: str) -> bool:
    """Text columns, and date columns whose name suggests a birth date."""
    if holds_text(type_name):
        return True
    return is_temporal(type_name) and "birth_date" in name_kinds(name)


def scan(source: Source, catalog: Catalog, cache_dir: Path,
         sample: int = DEFAULT_SAMPLE) -> list[ColumnFinding]:
    """Sample and classify every text column of every table in ``catalog``."""
    if sample < 1:
        raise ConfigError(f"--sample must be at least 1, not {sample}")
    import duckdb

    con = connect(source, cache_dir)
    findings: list[ColumnFinding] = []
    try:
        for table in catalog.tables.values():
            if table.kind != "table":
                continue
            for column in table.columns:
                if not wants_column(column.name, column.type):
                    continue
                try:
                    rows = con.execute(sample_sql(table.name, column.name, sample)).fetchall()
                except duckdb.Error as exc:
                    raise ExecutionError(
                        f"cannot sample {table.name}.{column.name}: {exc}") from exc
                finding = classify_column(column.name, column.type, [str(r[0]) for r in rows],
                                          table=table.name)
                if finding is not None:
                    findings.append(finding)
    finally:
        con.close()
    return findings


def findings_rows(findings: list[ColumnFinding]) -> list[list[Any]]:
    """Report rows (:data:`REPORT_COLUMNS`), unformatted: the share stays a ratio."""
    return [[f.table, f.column, ", ".join(f.kinds), f.share, f.confidence, f.evidence,
             "; ".join(f.examples)] for f in findings]


REPORT_COLUMNS = ["table", "column", "kinds", "share", "confidence", "evidence", "examples"]
