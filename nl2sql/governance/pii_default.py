"""Secure by default: where no policy covers a database, what the scanner finds is masked.

A database with no semantic-layer file, or with a file that says nothing about who may see
what (no ``mask``/``deny``, no ``row_filter``, no ``roles``: :func:`semantic.has_policy`),
would otherwise show everyone phones, ID numbers and birth dates in clear. Here such a
catalog gets the rules a person would most likely write (the modes of ``schemas/shop.yaml``):

========================  =====================================================
phone, email, id_number,  ``mask: partial`` (138****5678, z***@qq.com, 张**)
bank_card, address,
person_name
ip_address                ``mask: hash`` (joinable, not readable)
birth_date                ``deny: true``
free text mentioning any  ``redact_text: all``: phones, e-mails, ID and card numbers,
                          addresses inside it read ``[phone]``, ``[email]``, …
========================  =====================================================

and a note, on every answer and in ``schema``/``catalog``, saying so and how to write a
policy. The first policy rule a file gains switches all of this off: then the file decides.

Where it plugs in: the scanner lives here, above the pipeline, so the pipeline cannot call
it. The interfaces pass :class:`ScannerDefaults` to ``pipeline.open_session`` /
``load_catalog`` (``defaults=``), which call it with the merged catalog, the same way
``schema/contributors.py`` lets the extraction workspace add tables.

Cost: a quick scan, cached. One reservoir sample of 100 rows per table (many tables per
query) of the text (and birth-date-named) columns; a column is judged by the scanner's own
:func:`pii.classify_column` on its distinct sampled values, unless its name suggests no kind
and too few values pass :data:`PY_PREFILTER` (a superset of the scanner's patterns) for any
kind to reach the 30% a kind needs. A free-text column instead has up to 10,000 sampled texts
filtered in DuckDB by the same patterns (:data:`PREFILTER`), and only the texts that pass
are searched with :func:`pii.find_all`. The findings (names and kinds, no values) are
cached per database, keyed by the catalog's fingerprint, so later runs read a small file.
``nl2sql scan-pii`` remains the full review (1,000 rows per column, masked examples,
confidence).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nl2sql.catalog import (
    DENY_TAG,
    MASK_TAG,
    MENTIONS_TAG,
    PII_TAG,
    REDACT_TEXT_TAG,
    Catalog,
    Column,
    Table,
)
from nl2sql.errors import ExecutionError, first_line
from nl2sql.files import write_private
from nl2sql.governance import pii
from nl2sql.pii_patterns import REDACT_ORDER
from nl2sql.schema.introspect import cache_path
from nl2sql.schema.semantic import has_policy
from nl2sql.schema.source import Source, connect
from nl2sql.settings import Settings

if TYPE_CHECKING:
    import duckdb

CACHE_VERSION = 1
SAMPLE_ROWS = 100  # per table, for structured columns (a kind needs 30% of the values)
TEXT_ROWS = 10_000  # of a free-text column, filtered in DuckDB
TEXT_CANDIDATES = 200  # texts that pass the filter, searched in Python
TEXT_FLOOR = 2  # rows that must mention a kind (the scanner's floor for prose)
SPARSE = 20  # fewer non-null values than this in the table sample: sample the column alone
BATCH = 40  # tables sampled per query

#: The mask (or ``deny``) for each kind a structured column holds, as schemas/shop.yaml has them.
MODES: dict[str, str] = {
    "phone": "partial", "email": "partial", "id_number": "partial", "bank_card": "partial",
    "address": "partial", "person_name": "partial", "ip_address": "hash", "birth_date": "deny",
}
STRENGTH = {"partial": 1, "hash": 2, "redact": 3, "deny": 4}
SHOWN = {"partial": "masked", "hash": "hashed", "redact": "redacted"}

# Every text in which pii.find_all can find a kind matches one of these: a digit run with
# separators (phones, IDs, cards), an @ (e-mails), a dotted quad or IPv6 shape, a house
# number before 号 or before an English street word. Looser on purpose: they only decide
# which values the detectors look at (tests/test_secure_default.py holds them to the
# scanner's labelled values). ``{D}`` is a decimal digit of any script, as Python's ``\d``.
_PREFILTER_PARTS = (
    r"{D}[{D} ()\-]{{6,}}[{D}Xx]",
    "@",
    r"{D}{{1,3}}\.{D}{{1,3}}\.{D}{{1,3}}\.{D}{{1,3}}",
    r"::|(?:[0-9A-Fa-f]{{1,4}}:){{7}}",
    r"{D}[号號]",
    r"(?s:{D}.*\b(?:Road|Rd|Street|St|Avenue|Ave|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|"
    r"Place|Pl|Terrace|Highway|Hwy|Parkway|Pkwy)\b)",
)
#: The filter in RE2 (DuckDB's regexp_matches), for free text filtered where it lies.
PREFILTER = "|".join(part.format(D=r"\p{Nd}") for part in _PREFILTER_PARTS)
#: The same filter in Python, for sampled values already here.
PY_PREFILTER = re.compile("|".join(part.format(D=r"\d") for part in _PREFILTER_PARTS))


@dataclass(frozen=True)
class Finding:
    """A column the quick scan (or the semantic file's ``pii`` tags) says is personal."""

    table: str
    column: str
    kinds: tuple[str, ...]
    free_text: bool = False


@dataclass(frozen=True)
class Rule:
    """What a finding gets: a mask mode, or denied."""

    mask: str | None = None
    deny: bool = False
    redact_text: tuple[str, ...] = ()  # kinds replaced inside free text (``[phone]``)

    @property
    def shown(self) -> str:
        """``denied``, ``masked`` (partial), ``hashed``, ``redacted`` or ``text redacted``."""
        if self.redact_text and self.mask is None and not self.deny:
            return "text redacted"
        return "denied" if self.deny else SHOWN.get(str(self.mask), str(self.mask))


def free_text_rule(kinds: tuple[str, ...]) -> Rule:
    """The rule for free text that mentions personal data: every kind the secure view can
    find is replaced inside the text (not only the kinds the sample showed: a sample misses
    rows), and the rest of the text stays readable."""
    return Rule(redact_text=REDACT_ORDER)


def structured_rule(kinds: tuple[str, ...]) -> Rule:
    """The strongest of the kinds' modes (:data:`MODES`); an unknown kind is redacted."""
    mode = max((MODES.get(k, "redact") for k in kinds), key=STRENGTH.__getitem__,
               default="redact")
    return Rule(deny=True) if mode == "deny" else Rule(mask=mode)


def rule_for(finding: Finding) -> Rule:
    return free_text_rule(finding.kinds) if finding.free_text else structured_rule(finding.kinds)


class ScannerDefaults:
    """Passed to ``pipeline.open_session(defaults=...)``: protects a catalog no policy covers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self, source: Source, catalog: Catalog,
                 con: duckdb.DuckDBPyConnection | None = None) -> Catalog:
        if has_policy(catalog):
            return catalog
        findings = merge(self.findings(source, catalog, con), tagged(catalog))
        return protect(catalog, findings, self.settings.schemas_dir / f"{catalog.name}.yaml")

    def findings(self, source: Source, catalog: Catalog,
                 con: duckdb.DuckDBPyConnection | None = None) -> list[Finding]:
        """The quick scan's findings, from the cache while the catalog's fingerprint holds.
        ``con``: a confined connection to the source to use, else one is opened."""
        if not any(_wanted(t) for t in catalog.tables.values()):
            return []  # nothing a scan could read: no connection opened
        cached = _load(self.settings.cache_dir, source, catalog.fingerprint)
        if cached is not None:
            return cached
        found = quick_scan(source, catalog, self.settings, con)
        _save(self.settings.cache_dir, source, catalog.fingerprint, found)
        return found


# --- the quick scan ---------------------------------------------------------------------------


def _wanted(table: Table) -> list[Column]:
    if table.kind != "table":  # views are denied when they read a protected table
        return []
    return [c for c in table.columns if pii.wants_column(c.name, c.type)]


def quick_scan(source: Source, catalog: Catalog, settings: Settings,
               lent: duckdb.DuckDBPyConnection | None = None) -> list[Finding]:
    """Sample and judge the text columns of every table; our own fixed SQL only, on a
    connection confined like the engine's (the file is untrusted): ``lent``, else our own."""
    import duckdb

    from nl2sql.safety.engine import Limits, confine

    con = lent if lent is not None else connect(source, settings.cache_dir)
    try:
        if lent is None:
            confine(con, Limits.of(settings))
        tables = [(t, cols) for t in catalog.tables.values() if (cols := _wanted(t))]
        found: list[Finding] = []
        for start in range(0, len(tables), BATCH):
            batch = tables[start:start + BATCH]
            for (table, columns), rows in zip(batch, _samples(con, batch), strict=True):
                found += _judge_table(con, table, columns, rows)
        return found
    except duckdb.Error as exc:
        raise ExecutionError(f"cannot scan {source.alias} for personal data: "
                             f"{first_line(exc)}") from exc
    finally:
        if lent is None:
            con.close()


def _samples(con: Any, batch: list[tuple[Table, list[Column]]]) -> list[list[list[Any]]]:
    """Up to :data:`SAMPLE_ROWS` rows of each table's wanted columns (as text), many tables
    in one query: per-query overhead, not sampling, was most of a 300-table scan."""
    parts = []
    for i, (table, columns) in enumerate(batch):
        listed = ", ".join(f"CAST({pii.quote_ident(c.name)} AS VARCHAR)" for c in columns)
        parts.append(f"SELECT {i} AS t, [{listed}] AS v FROM (SELECT * FROM "
                     f"{pii.quote_ident(table.name)} USING SAMPLE reservoir({SAMPLE_ROWS} ROWS) "
                     f"REPEATABLE (7))")
    rows: list[list[list[Any]]] = [[] for _ in batch]
    for t, v in con.execute(" UNION ALL ".join(parts)).fetchall():
        rows[t].append(v)
    return rows


def _judge_table(con: Any, table: Table, columns: list[Column],
                 rows: list[list[Any]]) -> list[Finding]:
    found: list[Finding] = []
    for i, column in enumerate(columns):
        values = [str(r[i]) for r in rows if r[i] is not None]
        if len(values) < SPARSE <= len(rows):  # mostly empty in a full sample: its own
            values = [str(r[0]) for r in con.execute(
                pii.sample_sql(table.name, column.name, SAMPLE_ROWS)).fetchall()]
        if pii.is_free_text(values):
            kinds = _mentioned(con, table.name, column.name)
            if kinds:
                found.append(Finding(table.name, column.name, kinds, free_text=True))
            continue
        # Each distinct value judged once: a label column (status, city) costs its few
        # labels, not 100 rows; shares are then of distinct values, which for personal
        # values (nearly all distinct) are the same.
        distinct = list(dict.fromkeys(values))
        if not _may_hold_a_kind(column.name, distinct):
            continue
        judged = pii.classify_column(column.name, column.type, distinct, table=table.name)
        if judged is not None:
            found.append(Finding(table.name, column.name, tuple(judged.kinds)))
    return found


def _may_hold_a_kind(name: str, values: list[str]) -> bool:
    """False only where :func:`pii.classify_column` must find nothing: a name that suggests
    no kind, and too few values passing :data:`PY_PREFILTER` for any kind to reach its 30%.
    (Skipping those saves most of the detectors' time on a wide database.)"""
    if pii.name_kinds(name):
        return True
    floor = max(1, int(len(values) * 0.3 + 0.999))  # classify_column's floor for a kind
    return sum(1 for v in values if PY_PREFILTER.search(v)) >= floor


def _mentioned(con: Any, table: str, column: str) -> tuple[str, ...]:
    """Kinds found inside at least :data:`TEXT_FLOOR` of a free-text column's texts."""
    col, tab = pii.quote_ident(column), pii.quote_ident(table)
    texts = con.execute(
        f"SELECT v FROM (SELECT CAST({col} AS VARCHAR) AS v FROM {tab} WHERE {col} IS NOT NULL "
        f"USING SAMPLE reservoir({TEXT_ROWS} ROWS) REPEATABLE (7)) "
        f"WHERE regexp_matches(v, ?) ORDER BY hash(v), v LIMIT {TEXT_CANDIDATES}",
        [PREFILTER]).fetchall()
    counts: dict[str, int] = {}
    for (text,) in texts:
        for kind in {m.kind for m in pii.find_all(str(text))}:
            counts[kind] = counts.get(kind, 0) + 1
    return tuple(k for k in pii.EMBEDDED_KINDS if counts.get(k, 0) >= TEXT_FLOOR)


# --- what the file already tags ------------------------------------------------------------


def tagged(catalog: Catalog) -> list[Finding]:
    """Columns the semantic file tags as personal (``pii:``, ``tags.pii_mentions``, as
    ``scan-pii --write`` proposes them) but gives no rule."""
    found: list[Finding] = []
    for table in catalog.tables.values():
        for column in table.columns:
            if column.pii_mentions:
                found.append(Finding(table.name, column.name, tuple(column.pii_mentions), True))
            elif column.pii_kind:
                kind = column.pii_kind
                found.append(Finding(table.name, column.name,
                                     (kind if kind in MODES else "personal data",)))
    return found


def merge(*groups: list[Finding]) -> list[Finding]:
    """One finding per column, kinds united; free text when any says so."""
    merged: dict[tuple[str, str], Finding] = {}
    for finding in (f for group in groups for f in group):
        key = (finding.table, finding.column)
        seen = merged.get(key)
        if seen is None:
            merged[key] = finding
            continue
        kinds = tuple(dict.fromkeys(seen.kinds + finding.kinds))
        merged[key] = Finding(seen.table, seen.column, kinds,
                              seen.free_text or finding.free_text)
    return list(merged.values())


# --- applying the rules -------------------------------------------------------------------


def protect(catalog: Catalog, findings: list[Finding], policy_file: Path) -> Catalog:
    """A copy of ``catalog`` with each finding's rule as the column's tags, and the note
    (``policy_file``: where the policy would go). Unchanged, without a note, when nothing
    was found."""
    applied: list[str] = []
    protected = copy.copy(catalog)
    protected.tables = dict(catalog.tables)
    for finding in findings:
        table = protected.tables.get(finding.table)
        column = table.column(finding.column) if table is not None else None
        if table is None or column is None:
            continue
        rule = rule_for(finding)
        tags = dict(column.tags)
        if finding.free_text:
            tags[MENTIONS_TAG] = [k for k in finding.kinds if k in pii.EMBEDDED_KINDS]
        else:
            tags.setdefault(PII_TAG, finding.kinds[0])
        if rule.deny:
            tags[DENY_TAG] = True
        elif rule.mask is not None:
            tags[MASK_TAG] = rule.mask
        if rule.redact_text:
            tags[REDACT_TEXT_TAG] = list(rule.redact_text)
        if table is catalog.tables.get(finding.table):  # copy each table once
            table = copy.copy(table)
            table.columns = list(table.columns)
            protected.tables[finding.table] = table
        position = table.columns.index(column)
        table.columns[position] = copy.copy(column)
        table.columns[position].tags = tags
        applied.append(f"{finding.table}.{finding.column} {rule.shown}")
    if not applied:
        return catalog
    protected.notes = [*catalog.notes, note(catalog.name, applied, policy_file)]
    return protected


def note(database: str, applied: list[str], policy_file: Path, shown: int = 8) -> str:
    """The note on every answer: what the defaults did, and how to replace them.

    >>> text = note("crm", ["people.mobile masked"], Path("schemas/crm.yaml"))
    >>> "(people.mobile masked)" in text, "`nl2sql scan-pii --write schemas/crm.yaml`" in text
    (True, True)
    """
    listed = ", ".join(applied[:shown]) + (f" and {len(applied) - shown} more"
                                           if len(applied) > shown else "")
    return (f"no access policy covers {database}: personal data the scanner found is "
            f"protected by default ({listed}); to write a policy, run `nl2sql scan-pii --write "
            f"{policy_file}` and add mask/deny rules or roles (docs/governance.md)")


# --- the cache -------------------------------------------------------------------------


def _cache_file(cache_dir: Path, source: Source) -> Path:
    return cache_path(cache_dir, source, folder="pii_defaults")


def _load(cache_dir: Path, source: Source, fingerprint: str) -> list[Finding] | None:
    if not fingerprint:
        return None
    try:
        data = json.loads(_cache_file(cache_dir, source).read_text(encoding="utf-8"))
        if data.get("version") != CACHE_VERSION or data.get("fingerprint") != fingerprint:
            return None
        return [Finding(str(f["table"]), str(f["column"]), tuple(f["kinds"]),
                        bool(f["free_text"])) for f in data["findings"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # missing or damaged: scanned again


def _save(cache_dir: Path, source: Source, fingerprint: str, findings: list[Finding]) -> None:
    """Names and kinds only, never a value; owner-only, atomic; failure never fails a question."""
    if not fingerprint:
        return
    path = _cache_file(cache_dir, source)
    data = {"version": CACHE_VERSION, "fingerprint": fingerprint,
            "findings": [{"table": f.table, "column": f.column, "kinds": list(f.kinds),
                          "free_text": f.free_text} for f in findings]}
    write_private(path, json.dumps(data, ensure_ascii=False))
