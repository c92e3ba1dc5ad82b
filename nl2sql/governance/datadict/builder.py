"""Build the dictionary :class:`~.model.Document` of a catalog: what each role sees, and
which values may be shown at all.

The dictionary is meant to be passed around, so it must not become a leak itself. Values
(frequent values, min/max, value aliases) of a column are withheld when the column is
tagged ``pii`` or ``tags.pii_mentions``, is masked or denied by the base policy or by any
role, lies in a table some role may not read, or when the personal-data detector
(:func:`nl2sql.governance.pii_detect.detect`) recognises one of its shown values. Frequent
values seen fewer than :data:`MIN_SHOWN_COUNT` times are left out too: a rare value can
single out a person. Profile ``labels`` (every value of a naming column) are never shown.
"""

from __future__ import annotations

import datetime as dt

from nl2sql.catalog import Catalog, Column, Table
from nl2sql.governance.datadict.model import (
    VERSION,
    ColumnEntry,
    ColumnPolicy,
    DatabaseInfo,
    Document,
    Examples,
    ProfileView,
    Reference,
    Referrer,
    RoleView,
    Summary,
    TableAccess,
    TableEntry,
    TablePolicy,
    TermEntry,
)
from nl2sql.governance.pii_detect import detect
from nl2sql.safety import policy

#: Frequent values seen fewer times than this are not shown (they could identify someone).
MIN_SHOWN_COUNT = 5
#: How each mask mode reads in the dictionary.
ACCESS_LABELS = {"none": "visible", "partial": "masked (partial)", "hash": "hashed",
                 "redact": "redacted"}
VISIBLE, DENIED = "visible", "denied"
TEXT_REDACTED = "text redacted"  # redact_text without a mask: personal values in it replaced


def build(catalog: Catalog, generated_at: dt.datetime) -> Document:
    """The data dictionary of ``catalog`` (pure: the caller passes the time).

    >>> from nl2sql.catalog import Column, Table
    >>> cat = Catalog(name="x", tables={"t": Table("t", [Column("a", "INTEGER")])})
    >>> doc = build(cat, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    >>> doc.tables[0].columns[0].policy.roles
    {'default': 'visible'}
    """
    roles = policy.role_names(catalog)
    policies = {name: policy.resolve(catalog, name) for name in roles}
    restricted = _restricted_columns(catalog, policies)
    anchors = _anchors([t.name for t in catalog.tables.values()])
    tables = [_table(catalog, table, anchors[table.name], policies, restricted)
              for table in catalog.tables.values()]
    columns = [c for t in tables for c in t.columns]
    return Document(
        version=VERSION,
        database=DatabaseInfo(
            name=catalog.name, description=catalog.description, source=catalog.source,
            dialect=catalog.dialect, semantic_files=list(catalog.semantic_files),
            generated_at=generated_at.isoformat(timespec="seconds"), notes=list(catalog.notes)),
        summary=Summary(
            tables=len(tables), columns=len(columns),
            personal_data_columns=sum(1 for c in columns if c.pii or c.pii_mentions),
            withheld_columns=sum(1 for c in columns if c.withheld)),
        roles=_roles(catalog, roles),
        tables=tables,
        terms=[TermEntry(name=t.name, sql=t.sql, synonyms=list(t.synonyms),
                         description=t.description) for t in catalog.terms],
        examples=Examples(count=len(catalog.examples)),
    )


def _roles(catalog: Catalog, names: list[str]) -> list[RoleView]:
    """Every role, with the default marked and why it is the default (the marked one, else
    the most restricted: a person who names no role gets the safe view)."""
    chosen = policy.default_role(catalog)
    marked = any(r.default for r in catalog.roles.values())
    reason = "marked default" if marked else (
        "the most restricted role" if catalog.roles else "no roles defined: the base policy")
    out = []
    for name in names:
        spec = catalog.roles.get(name)
        out.append(RoleView(name=name, description=spec.description if spec else None,
                            default=name == chosen,
                            default_reason=reason if name == chosen else None,
                            users=list(spec.users) if spec else []))
    return out


def _restricted_columns(catalog: Catalog,
                        policies: dict[str, policy.AccessPolicy]) -> set[str]:
    """``table.column``s some role (or the base policy) masks or denies: their values are
    sensitive by the policy's own account, whoever reads the dictionary."""
    refs: set[str] = set()
    for table in catalog.tables.values():
        for column in table.columns:
            if column.denied or column.mask_mode != "none" or table.denied \
                    or column.redact_kinds:
                refs.add(f"{table.name}.{column.name}")
    for access in policies.values():
        refs |= set(access.masks) | set(access.denied_columns) | set(access.redactions)
        for name in access.denied_tables:
            denied = catalog.tables.get(name)
            refs |= {f"{name}.{c.name}" for c in (denied.columns if denied else [])}
    return refs


def _anchors(names: list[str]) -> dict[str, str]:
    """A unique, URL-safe fragment per table (``t-order-items``); Chinese names stay readable."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-") or "table"
        anchor, n = f"t-{slug}", 2
        while anchor in used:
            anchor, n = f"t-{slug}-{n}", n + 1
        used.add(anchor)
        out[name] = anchor
    return out


def _table(catalog: Catalog, table: Table, anchor: str,
           policies: dict[str, policy.AccessPolicy], restricted: set[str]) -> TableEntry:
    base = TableAccess(access=DENIED if table.denied else VISIBLE, row_filter=table.row_filter)
    roles = {name: TableAccess(access=DENIED if table.name in p.denied_tables else VISIBLE,
                               row_filter=p.row_filters.get(table.name))
             for name, p in policies.items()}
    return TableEntry(
        name=table.name, anchor=anchor, kind=table.kind, description=table.about,
        row_count=table.row_count, primary_key=list(table.primary_key),
        references=[Reference(columns=list(fk.columns), table=fk.ref_table,
                              ref_columns=list(fk.ref_columns)) for fk in table.foreign_keys],
        referenced_by=_referenced_by(catalog, table),
        synonyms=list(table.synonyms),
        policy=TablePolicy(base=base, roles=roles),
        columns=[_column(table, c, policies, restricted) for c in table.columns],
    )


def _referenced_by(catalog: Catalog, table: Table) -> list[Referrer]:
    """Foreign keys of other tables pointing here (the other direction of ``references``)."""
    found = []
    for other in catalog.tables.values():
        for fk in other.foreign_keys:
            if catalog.table(fk.ref_table) is table:
                found.append(Referrer(table=other.name, columns=list(fk.columns),
                                      ref_columns=list(fk.ref_columns)))
    return found


def _column(table: Table, column: Column, policies: dict[str, policy.AccessPolicy],
            restricted: set[str]) -> ColumnEntry:
    ref = f"{table.name}.{column.name}"
    references = [f"{fk.ref_table}.{fk.ref_columns[i]}" for fk in table.foreign_keys
                  for i, name in enumerate(fk.columns)
                  if name == column.name and i < len(fk.ref_columns)]
    primary = column.primary_key or column.name in table.primary_key
    withheld = _withheld(column, ref in restricted)
    return ColumnEntry(
        name=column.name, type=column.type, nullable=column.nullable, primary_key=primary,
        references=references, key=_key_label(primary, references),
        description=column.about, synonyms=list(column.synonyms),
        values={} if withheld else {k: list(v) for k, v in column.values.items()},
        pii=column.pii_kind, pii_mentions=column.pii_mentions, withheld=withheld,
        profile=_profile(column, withheld),
        policy=ColumnPolicy(base=_base_access(table, column),
                            roles={name: _access(p, table, ref) for name, p in policies.items()}),
    )


def _key_label(primary: bool, references: list[str]) -> str | None:
    parts = (["PK"] if primary else []) + [f"FK → {target}" for target in references]
    return ", ".join(parts) or None


def _withheld(column: Column, restricted: bool) -> str | None:
    """Why ``column``'s values are not shown, or None when they may be."""
    kind = column.pii_kind
    if kind:
        return f"values withheld (personal data: {kind})"
    mentions = column.pii_mentions
    if mentions:
        return f"values withheld (mentions personal data: {', '.join(mentions)})"
    if restricted:
        return "values withheld (masked or denied for some roles)"
    found = _detected(column)
    if found:
        return f"values withheld (looks like personal data: {', '.join(found)})"
    return None


def _detected(column: Column) -> list[str]:
    """Personal-data kinds the detector finds among the values the profile would show: a
    safety net for columns nobody tagged yet (names of support agents, say)."""
    profile = column.profile
    if profile is None:
        return []
    shown = [v for v, _ in profile.top_values] + [v for v in (profile.min, profile.max) if v]
    shown += list(column.values)
    return sorted({kind for value in shown for kind in detect(str(value), column.name)})


def _profile(column: Column, withheld: str | None) -> ProfileView | None:
    profile = column.profile
    if profile is None:
        return None
    frequent = [] if withheld else [(str(v), int(n)) for v, n in profile.top_values]
    shown = [(value, n) for value, n in frequent if n >= MIN_SHOWN_COUNT]
    return ProfileView(
        distinct=profile.distinct, distinct_exact=profile.distinct_exact,
        null_share=profile.null_share, min=None if withheld else profile.min,
        max=None if withheld else profile.max,
        top_values=shown, rare_values_left_out=len(frequent) - len(shown))


def _base_access(table: Table, column: Column) -> str:
    if table.denied or column.denied:
        return DENIED
    if column.mask_mode == "none" and column.redact_kinds:
        return TEXT_REDACTED
    return ACCESS_LABELS.get(column.mask_mode, VISIBLE)


def _access(access: policy.AccessPolicy, table: Table, ref: str) -> str:
    """What one role sees of one column: visible, masked (partial), hashed, redacted, denied."""
    if table.name in access.denied_tables or ref in access.denied_columns:
        return DENIED
    if ref not in access.masks and ref in access.redactions:
        return TEXT_REDACTED
    return ACCESS_LABELS.get(access.masks.get(ref, "none"), VISIBLE)
