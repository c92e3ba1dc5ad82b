"""Which role applies and what it may see: :class:`AccessPolicy` resolved from the catalog.

The base rules are in ``schemas/<database>.yaml``; a role's changes apply on top, and two
closures follow: views over restricted tables, and tables ``nl2sql extract`` derived from
restricted text columns, are denied unless the role vouches for them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from nl2sql import column_types
from nl2sql.catalog import REDACT_TEXT_TAG, Catalog, Column, Role, Table
from nl2sql.errors import ConfigError, RoleRefused
from nl2sql.pii_patterns import REDACT_ORDER, REDACTABLE_KINDS
from nl2sql.safety.policy.rewrite import row_condition

DEFAULT_ROLE = "default"  # the name of the one role a file without ``roles:`` has
STRENGTH = {"none": 0, "partial": 1, "hash": 2, "redact": 3}
#: Every kind in-text redaction knows (``redact_text: all``).
ALL_TEXT_KINDS: frozenset[str] = REDACTABLE_KINDS


@dataclass(frozen=True)
class AccessPolicy:
    """What one role may see. ``masks``, ``redactions`` and ``denied_columns`` use
    ``table.column`` keys.

    ``redactions`` maps a free-text column to the kinds of personal data (``phone``,
    ``email``, ``id_number``, ``bank_card``, ``address``: :data:`ALL_TEXT_KINDS`) replaced by
    ``[phone]``-style tokens inside its text; the rest of the text stays readable. Built
    from ``redact_text`` in the semantic layer, or directly:
    ``AccessPolicy(redactions={"reviews.review_text": ALL_TEXT_KINDS})``.
    """

    role: str = DEFAULT_ROLE
    description: str | None = None
    masks: Mapping[str, str] = field(default_factory=dict)
    denied_columns: frozenset[str] = frozenset()
    denied_tables: frozenset[str] = frozenset()
    row_filters: Mapping[str, str] = field(default_factory=dict)
    key: str = ""  # secret for ``hash`` masks
    reasons: Mapping[str, str] = field(default_factory=dict)  # denied table -> why
    redactions: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = {k for kinds in self.redactions.values() for k in kinds} - REDACTABLE_KINDS
        if unknown:  # a programming error (the semantic layer checks what people write)
            raise ValueError(f"unknown redaction kind(s): {', '.join(sorted(unknown))}")

    @property
    def restricts(self) -> bool:
        return bool(self.masks or self.denied_columns or self.denied_tables or self.row_filters
                    or self.redactions)

    @property
    def altered(self) -> dict[str, str]:
        """Columns the role reads changed, and how: the mask mode, or ``redact_text`` for
        text whose personal values are replaced (the report of an answer's masking)."""
        return {**dict.fromkeys(self.redactions, "redact_text"), **self.masks}

    def sees_in_clear(self, ref: str) -> bool:
        """Whether the role reads column ``table.column`` as stored: not denied, masked
        or redacted (its table may still be denied or filtered)."""
        return not (ref in self.denied_columns or ref in self.masks or ref in self.redactions)

    def tables_with_denied_columns(self) -> set[str]:
        return {ref.split(".")[0] for ref in self.denied_columns}

    def restricted_tables(self) -> set[str]:
        """Tables whose references the engine must replace by a secure derived table."""
        masked = {ref.split(".")[0] for ref in (*self.masks, *self.redactions)}
        return masked | self.tables_with_denied_columns() | set(self.row_filters)

    def summary(self) -> dict[str, Any]:
        """The policy as plain data (``nl2sql catalog``, ``\\role`` in the shell)."""
        return {"role": self.role, "description": self.description,
                "masked": dict(sorted(self.masks.items())),
                "redacted_text": {ref: [k for k in REDACT_ORDER if k in kinds]
                                  for ref, kinds in sorted(self.redactions.items())},
                "denied_columns": sorted(self.denied_columns),
                "denied_tables": sorted(self.denied_tables),
                "row_filters": dict(sorted(self.row_filters.items()))}


# --- choosing a role -------------------------------------------------------------------------


def role_names(catalog: Catalog) -> list[str]:
    """The roles a database defines, or ``["default"]`` when it defines none."""
    return list(catalog.roles) or [DEFAULT_ROLE]


def default_role(catalog: Catalog) -> str:
    """The role marked ``default: true``, else the most restricted one (the safe choice).

    >>> default_role(Catalog(name="x", tables={}))
    'default'
    """
    marked = [r.name for r in catalog.roles.values() if r.default]
    if marked:
        return marked[0]
    if not catalog.roles:
        return DEFAULT_ROLE
    return max(catalog.roles, key=lambda name: _restriction(resolve(catalog, name)))


def _restriction(policy: AccessPolicy) -> tuple[int, int, int, int, int]:
    # max() keeps the first of equals, so ties go to the role listed first
    return (len(policy.denied_tables), len(policy.denied_columns),
            sum(STRENGTH[m] for m in policy.masks.values()), len(policy.row_filters),
            sum(len(kinds) for kinds in policy.redactions.values()))


def for_role(catalog: Catalog, role: str | None = None, user: str | None = None,
             key_file: Path | None = None) -> AccessPolicy:
    """The policy of ``role`` (None: the default role) for ``user``; raises ConfigError for
    a role the database does not define or one ``user`` may not take."""
    name = role or default_role(catalog)
    if name not in role_names(catalog):
        raise ConfigError(f"no role {name!r} in {catalog.name}'s policy; roles: "
                          f"{', '.join(role_names(catalog))}")
    spec = catalog.roles.get(name)
    if spec is not None and spec.users and user not in spec.users:
        raise RoleRefused(f"role {name} is limited to {', '.join(spec.users)}; "
                          f"{user or 'this user'} may not take it")
    policy = resolve(catalog, name)
    if "hash" in policy.masks.values() and key_file is not None:
        policy = replace(policy, key=load_key(key_file))
    return policy


def resolve(catalog: Catalog, name: str) -> AccessPolicy:
    """The base rules of the catalog with role ``name``'s changes applied."""
    spec = catalog.roles.get(name) or Role(name=name)
    masks: dict[str, str] = {}
    redactions: dict[str, frozenset[str]] = {}
    denied: set[str] = set()
    for table in catalog.tables.values():
        for column in table.columns:
            ref = f"{table.name}.{column.name}"
            mode, deny = _column_rule(table, column, spec)
            kinds = _redaction_rule(table, column, spec)
            if deny:
                denied.add(ref)
                continue
            if mode != "none":
                masks[ref] = mode
            if kinds:
                redactions[ref] = kinds
    policy = AccessPolicy(role=name, description=spec.description, masks=masks,
                          redactions=redactions, denied_columns=frozenset(denied),
                          denied_tables=frozenset(_denied_tables(catalog, spec)),
                          row_filters=_filters(catalog, spec))
    return _close_extracted(catalog, spec, _close_views(catalog, spec, policy))


def _close_extracted(catalog: Catalog, role: Role, policy: AccessPolicy) -> AccessPolicy:
    """A table ``nl2sql extract`` derived from a text column follows that column: denied
    when the role may not see the text in clear (denied or masked), its text columns redacted
    like the source when the role reads the source's text redacted, and filtered like the
    source's rows, so extraction never launders data a role may not read (a table that
    summarises groups of source rows — the ``summary`` tag, e.g. the themes of ``nl2sql
    themes`` with their sizes and examples — has no row to filter: denied). A column that
    copies a source column (the key, ``source_key``: the tag's ``lineage``) gets that
    column's rule for this role, whatever the table's ``allow``."""
    denied: dict[str, str] = {}
    filters = dict(policy.row_filters)
    redactions = dict(policy.redactions)
    masks, denied_columns = _copied_rules(catalog, policy)
    for table in catalog.tables.values():
        origin = table.tags.get("extracted")
        if not isinstance(origin, dict) or _listed(table.name, role.allow):
            continue
        source, column, key = (str(origin.get(k)) for k in ("source_table", "source_column",
                                                            "key"))
        ref = f"{source}.{column}"
        if source in policy.denied_tables or ref in policy.denied_columns or ref in policy.masks:
            denied[table.name] = (f"it was extracted from {ref}, which role {policy.role} may "
                                  "not read in clear; list it under "
                                  f"roles.{policy.role}.allow to vouch for it")
            continue
        if ref in policy.redactions:
            # whoever ran the extraction may have read the text in clear: what it wrote
            # as text is redacted the same way (a number or a label holds no phone)
            for derived in table.columns:
                derived_ref = f"{table.name}.{derived.name}"
                if derived.name != key and column_types.is_text(
                        column_types.item_type(derived.type) or derived.type):
                    redactions[derived_ref] = redactions.get(
                        derived_ref, frozenset()) | policy.redactions[ref]
        if source in policy.row_filters and table.name not in filters:
            if origin.get("summary"):  # one row per group of source rows: no row to filter
                denied[table.name] = (f"it summarises rows of {source}, which role "
                                      f"{policy.role} reads through a row filter")
                continue
            filters[table.name] = _inherited_filter(key, source, policy.row_filters[source])
    if (not denied and filters == policy.row_filters and redactions == policy.redactions
            and not masks and not denied_columns):
        return policy
    return replace(policy, row_filters=filters, redactions=redactions,
                   masks={**policy.masks, **masks},
                   denied_columns=policy.denied_columns | denied_columns,
                   denied_tables=policy.denied_tables | frozenset(denied),
                   reasons={**policy.reasons, **denied})


def _copied_rules(catalog: Catalog, policy: AccessPolicy) -> tuple[dict[str, str],
                                                                    frozenset[str]]:
    """Masks and denials of extracted columns that copy a source column (their lineage),
    taken from the source column's rule in ``policy``: derived at every resolve, so the
    workspace follows a policy change without being written again."""
    masks: dict[str, str] = {}
    denied: set[str] = set()
    for table in catalog.tables.values():
        origin = table.tags.get("extracted")
        if not isinstance(origin, dict):
            continue
        lineage = origin.get("lineage")
        if not isinstance(lineage, dict):  # described before lineage was recorded (a cache)
            copied = {"source": f"{origin.get('source_table')}.{origin.get('key')}",
                      "copy": True}
            lineage = {str(origin.get("key")): copied, "source_key": copied}
        for column, entry in lineage.items():
            if not isinstance(entry, dict) or not entry.get("copy"):
                continue
            ref, source = f"{table.name}.{column}", str(entry.get("source"))
            if source in policy.denied_columns or source.split(".")[0] in policy.denied_tables:
                denied.add(ref)
            elif source in policy.masks:
                masks[ref] = policy.masks[source]
    return masks, frozenset(denied)


def _inherited_filter(key: str, source: str, condition: str) -> str:
    """``key IN (SELECT key FROM source WHERE condition)``, built on the syntax tree."""
    inner = exp.select(exp.column(key, quoted=True)).from_(
        exp.to_table(exp.to_identifier(source, quoted=True).sql(dialect="duckdb"))).where(
        exp.Paren(this=row_condition(condition)))
    return exp.In(this=exp.column(key, quoted=True), query=exp.Subquery(this=inner)).sql(
        dialect="duckdb")


def _close_views(catalog: Catalog, role: Role, policy: AccessPolicy) -> AccessPolicy:
    """A view runs over its tables without the secure rewrite, so a view that reads a table
    with rules (or whose SQL cannot be read) is denied, unless the role's ``allow`` names it:
    a person then vouches for what the view shows."""
    guarded = policy.restricted_tables() | set(policy.denied_tables)
    reasons: dict[str, str] = {}
    changed = True
    while changed:  # views over views
        changed = False
        for view in (t for t in catalog.tables.values() if t.kind == "view"):
            if view.name in reasons or _listed(view.name, role.allow):
                continue
            read = _tables_read_by(view, catalog)
            hit = sorted(read & (guarded | set(reasons))) if read is not None else None
            if read is None and guarded:
                reasons[view.name] = (f"view {view.name} cannot be checked (its SQL is unknown) "
                                      f"and role {policy.role} has access rules")
            elif hit:
                which = "which has" if len(hit) == 1 else "which have"
                reasons[view.name] = (f"view {view.name} reads {', '.join(hit)}, {which} access "
                                      f"rules for role {policy.role}; list it under "
                                      f"roles.{policy.role}.allow to vouch for it")
            changed = changed or view.name in reasons
    if not reasons:
        return policy
    return replace(policy, denied_tables=policy.denied_tables | frozenset(reasons),
                   reasons=reasons)


def _tables_read_by(view: Table, catalog: Catalog) -> set[str] | None:
    """Catalog tables a view's SQL reads (None when it cannot be parsed)."""
    if not view.definition:
        return None
    try:
        tree = sqlglot.parse_one(view.definition, read=catalog.dialect)
    except Exception:  # noqa: BLE001 - any parse failure means "unknown"
        return None
    own = view.name.lower()
    return {real.name for t in tree.find_all(exp.Table)
            if t.name.lower() != own and (real := catalog.table(t.name)) is not None}


def _column_rule(table: Table, column: Column, role: Role) -> tuple[str, bool]:
    ref = f"{table.name}.{column.name}"
    mode = str(column.tags.get("mask", "none"))
    deny = bool(column.tags.get("deny", False))
    if _listed(ref, role.unmask):
        mode = "none"
    if _listed(ref, role.allow):
        deny = False
    override = role.columns.get(ref, {})
    return str(override.get("mask", mode)), bool(override.get("deny", deny))


def _redaction_rule(table: Table, column: Column, role: Role) -> frozenset[str]:
    """The kinds redacted inside the column's text for ``role``: the base ``redact_text``,
    lifted by ``unmask`` like a mask, replaced by the role's own ``columns`` entry."""
    ref = f"{table.name}.{column.name}"
    kinds: tuple[str, ...] | list[str] = column.redact_kinds
    if _listed(ref, role.unmask):
        kinds = ()
    override = role.columns.get(ref, {})
    return frozenset(override.get(REDACT_TEXT_TAG, kinds) or ())


def _listed(ref: str, names: list[str]) -> bool:
    return "*" in names or ref in names or ref.split(".")[0] in names


def _denied_tables(catalog: Catalog, role: Role) -> set[str]:
    base = {t.name for t in catalog.tables.values() if t.tags.get("deny")}
    lifted = {t for t in base if _listed(t, role.allow)}
    return (base - lifted) | set(role.deny_tables)


def _filters(catalog: Catalog, role: Role) -> dict[str, str]:
    filters = {t.name: str(t.tags["row_filter"]) for t in catalog.tables.values()
               if t.tags.get("row_filter")}
    for table, condition in role.row_filters.items():
        if condition is None:
            filters.pop(table, None)
        else:
            filters[table] = condition
    return filters


def load_key(path: Path) -> str:
    """The secret that keys ``hash`` masks, created (mode 0600) on first use."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot read the mask key {path}: {exc.strerror}") from exc
    key = secrets.token_hex(16)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()  # another process made it first
    except OSError as exc:
        raise ConfigError(f"cannot create the mask key {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key
